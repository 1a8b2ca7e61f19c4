#include "prompts/csv_table.h"

#include <glib.h>

#include <fstream>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {
namespace {

[[noreturn]] void fail(const std::string& source, size_t line, size_t column, const std::string& what) {
  throw Error(source + ":" + std::to_string(line) + ":" + std::to_string(column) + ": " + what);
}

// Line and 1-based byte column of `offset`.
std::pair<size_t, size_t> position(std::string_view text, size_t offset) {
  size_t line = 1, line_start = 0;
  for (size_t i = 0; i < offset && i < text.size(); ++i) {
    if (text[i] == '\n') ++line, line_start = i + 1;
  }
  return {line, offset - line_start + 1};
}

}  // namespace

size_t CsvTable::column(const std::string& name) const {
  for (size_t i = 0; i < header.size(); ++i) {
    if (header[i] == name) return i;
  }
  std::string have;
  for (const auto& h : header) have += (have.empty() ? "" : ", ") + h;
  throw Error(source + ":1: no column '" + name + "' (the header has: " + have + ")");
}

std::string CsvTable::where(size_t row) const { return source + ":" + std::to_string(row_lines.at(row)); }

CsvTable parse_csv(std::string_view text, const std::string& source) {
  const char* invalid = nullptr;
  if (!g_utf8_validate(text.data(), gssize(text.size()), &invalid)) {
    const auto [line, column] = position(text, size_t(invalid - text.data()));
    fail(source, line, column, "invalid UTF-8 (the file must be UTF-8 encoded)");
  }
  if (text.size() >= 3 && text.substr(0, 3) == "\xEF\xBB\xBF") text.remove_prefix(3);  // byte-order mark

  CsvTable table;
  table.source = source;
  std::vector<std::string> row;
  std::string field;
  size_t line = 1, line_start = 0, row_line = 1;
  size_t i = 0;
  const auto column_at = [&](size_t offset) { return offset - line_start + 1; };
  const auto end_row = [&] {
    row.push_back(std::move(field));
    field.clear();
    const bool blank = row.size() == 1 && row[0].empty();
    if (table.header.empty()) {
      if (blank) fail(source, row_line, 1, "empty header line");
      table.header = std::move(row);
    } else if (!blank) {
      if (row.size() != table.header.size()) {
        fail(source, row_line, 1,
             "expected " + std::to_string(table.header.size()) + " fields, found " + std::to_string(row.size()));
      }
      table.rows.push_back(std::move(row));
      table.row_lines.push_back(row_line);
    }
    row.clear();
  };
  while (i < text.size()) {
    const char c = text[i];
    if (c == '"' && field.empty()) {
      const size_t open_line = line, open_column = column_at(i);
      ++i;
      for (;;) {
        if (i >= text.size()) fail(source, open_line, open_column, "quoted field is never closed");
        if (text[i] == '"') {
          if (i + 1 < text.size() && text[i + 1] == '"') {
            field.push_back('"');
            i += 2;
            continue;
          }
          ++i;
          break;
        }
        if (text[i] == '\n') ++line, line_start = i + 1;
        field.push_back(text[i++]);
      }
      if (i < text.size() && text[i] != ',' && text[i] != '\n' && text[i] != '\r') {
        fail(source, line, column_at(i), "unexpected character after a closing quote");
      }
      continue;
    }
    if (c == ',') {
      row.push_back(std::move(field));
      field = std::string();
      ++i;
    } else if (c == '\n' || c == '\r') {
      if (c == '\r' && i + 1 < text.size() && text[i + 1] == '\n') ++i;
      ++i;
      end_row();
      ++line;
      line_start = i;
      row_line = line;
    } else if (c == '"') {
      fail(source, line, column_at(i), "quote inside an unquoted field");
    } else {
      field.push_back(c);
      ++i;
    }
  }
  if (!field.empty() || !row.empty()) end_row();
  if (table.header.empty()) fail(source, 1, 1, "empty file; expected a header line");
  return table;
}

CsvTable read_csv(const std::string& path) {
  CsvTable table = parse_csv(read_file(path), path);
  // Every table tessera reads is an input named by a flag: one without rows
  // is a mistake (a failed export, the wrong file), never a request for nothing.
  if (table.rows.empty()) throw Error(path + ": the header line is followed by no rows");
  return table;
}

}  // namespace tessera::stages
