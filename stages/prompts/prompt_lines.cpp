#include "prompts/prompt_lines.h"

#include <glib.h>

#include <string_view>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {

std::vector<PromptLine> read_prompt_lines(const std::string& path) {
  const std::string text = read_file(path);
  std::vector<PromptLine> lines;
  size_t start = 0;
  for (size_t number = 1; start < text.size(); ++number) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    const char* invalid = nullptr;
    if (!g_utf8_validate(line.data(), gssize(line.size()), &invalid)) {
      throw Error(path + ":" + std::to_string(number) + ":" + std::to_string(invalid - line.data() + 1) +
                  ": invalid UTF-8 (the file must be UTF-8 encoded)");
    }
    if (line.find_first_not_of(" \t") == std::string_view::npos) continue;
    lines.push_back({number, std::string(line)});
  }
  return lines;
}

}  // namespace tessera::stages
