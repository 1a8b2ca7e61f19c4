#pragma once

#include <cstddef>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::stages {

// An RFC 4180 table (comma-separated, double-quoted fields that may hold commas,
// doubled quotes and line breaks; LF or CRLF rows), read whole before any of it
// is used, so a malformed file is rejected without half its rows taking effect.
struct CsvTable {
  std::string source;  // file name, for messages
  std::vector<std::string> header;
  std::vector<std::vector<std::string>> rows;
  std::vector<size_t> row_lines;  // 1-based line on which each row starts

  // Index of a header column; throws tessera::Error naming the file and the
  // columns it does have.
  size_t column(const std::string& name) const;
  // "file:line" of a row, for messages.
  std::string where(size_t row) const;
};

// Throws tessera::Error "SOURCE:LINE:COLUMN: what" for an unterminated quote,
// a quote inside an unquoted field, text after a closing quote, invalid UTF-8,
// a row whose field count differs from the header's, or an empty header.
CsvTable parse_csv(std::string_view text, const std::string& source);
// parse_csv of a file; also throws, naming the file, for one with a header
// and no rows.
CsvTable read_csv(const std::string& path);

}  // namespace tessera::stages
