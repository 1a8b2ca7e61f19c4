#pragma once

#include <cstddef>
#include <string>
#include <vector>

namespace tessera::stages {

// One prompt of a prompts file and the 1-based line it is on.
struct PromptLine {
  size_t line = 0;
  std::string text;
};

// A prompts file of one prompt per line (LF or CRLF), read whole and checked
// before any of it is used: every line must be UTF-8. Blank lines (spaces and
// tabs only) are skipped; the others are kept verbatim. Throws tessera::Error
// "PATH:LINE:COLUMN: invalid UTF-8 ..." naming the first bad byte, or naming
// the file when it cannot be read.
std::vector<PromptLine> read_prompt_lines(const std::string& path);

}  // namespace tessera::stages
