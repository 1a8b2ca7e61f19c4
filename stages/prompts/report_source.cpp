#include "prompts/report_source.h"

#include <glib.h>

#include <algorithm>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <set>

#include "base/ascii_case.h"
#include "base/error.h"
#include "base/file_io.h"
#include "prompts/csv_table.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

std::string lower_extension(const fs::path& path) { return ascii_lowercase(path.extension().string()); }

std::vector<Report> from_csv(const std::string& path, const ReportSourceOptions& options) {
  const CsvTable table = read_csv(path);
  const size_t id = table.column(options.id_column);
  const size_t text = table.column(options.text_column);
  std::vector<Report> reports;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    if (table.rows[r][id].empty()) throw Error(table.where(r) + ": empty '" + options.id_column + "'");
    reports.push_back({table.rows[r][id], table.rows[r][text], table.where(r)});
  }
  return reports;
}

// A JSON object whose key appears twice: nlohmann keeps the last value without
// a word, so a report's text or id could be silently the wrong one.
nlohmann::json parse_refusing_duplicate_keys(const std::string& text, const std::string& where) {
  std::vector<std::set<std::string>> open_objects;
  std::string duplicate;
  const nlohmann::json::parser_callback_t note_keys = [&](int, nlohmann::json::parse_event_t event,
                                                          nlohmann::json& parsed) {
    if (event == nlohmann::json::parse_event_t::object_start) open_objects.emplace_back();
    if (event == nlohmann::json::parse_event_t::object_end) open_objects.pop_back();
    if (event == nlohmann::json::parse_event_t::key && !open_objects.back().insert(parsed.get<std::string>()).second &&
        duplicate.empty()) {
      duplicate = parsed.get<std::string>();
    }
    return true;
  };
  nlohmann::json object;
  try {
    object = nlohmann::json::parse(text, note_keys);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(where + ":" + std::to_string(e.byte) + ": not valid JSON: " + e.what());
  }
  if (!duplicate.empty()) throw Error(where + ": the key '" + duplicate + "' appears twice in one object");
  return object;
}

std::vector<Report> from_jsonl(const std::string& path, const ReportSourceOptions& options) {
  const std::string bytes = read_file(path);
  std::vector<Report> reports;
  size_t line_number = 0;
  size_t start = 0;
  while (start <= bytes.size()) {
    size_t end = bytes.find('\n', start);
    if (end == std::string::npos) end = bytes.size();
    ++line_number;
    std::string line = bytes.substr(start, end - start);
    start = end + 1;
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) {
      if (end == bytes.size()) break;
      continue;
    }
    const std::string where = path + ":" + std::to_string(line_number);
    const nlohmann::json object = parse_refusing_duplicate_keys(line, where);
    for (const auto* key : {&options.id_column, &options.text_column}) {
      if (!object.is_object() || !object.contains(*key) || !object[*key].is_string()) {
        throw Error(where + ": expected an object with a string '" + *key + "'");
      }
    }
    reports.push_back(
        {object[options.id_column].get<std::string>(), object[options.text_column].get<std::string>(), where});
    if (end == bytes.size()) break;
  }
  return reports;
}

std::vector<Report> from_folder(const std::string& path) {
  std::vector<fs::path> files;
  for (const auto& entry : fs::directory_iterator(path)) {
    if (entry.is_regular_file() && lower_extension(entry.path()) == ".txt") files.push_back(entry.path());
  }
  std::sort(files.begin(), files.end());
  std::vector<Report> reports;
  for (const auto& file : files) {
    std::string text = read_file(file.string());
    const char* invalid = nullptr;
    if (!g_utf8_validate(text.data(), gssize(text.size()), &invalid)) {
      throw Error(file.string() + ": invalid UTF-8 at byte " + std::to_string(invalid - text.data()));
    }
    reports.push_back({file.stem().string(), std::move(text), file.string()});
  }
  if (reports.empty()) throw Error(path + ": no .txt reports in this folder");
  return reports;
}

}  // namespace

std::vector<Report> read_reports(const std::string& path, const ReportSourceOptions& options) {
  if (fs::is_directory(path)) return from_folder(path);
  if (!fs::exists(path)) throw Error(path + ": no such file or folder");
  const std::string ext = lower_extension(path);
  std::vector<Report> reports;
  if (ext == ".csv") {
    reports = from_csv(path, options);
  } else if (ext == ".jsonl" || ext == ".ndjson") {
    reports = from_jsonl(path, options);
  } else {
    throw Error(path + ": unknown report format '" + ext + "'; use .csv, .jsonl or a folder of .txt files");
  }
  // Duplicates are an error rather than last-one-wins: which report describes
  // the case would otherwise depend on row order.
  index_reports(reports);
  return reports;
}

std::map<std::string, Report> index_reports(std::vector<Report> reports) {
  std::map<std::string, Report> by_case;
  for (auto& report : reports) {
    const auto [it, inserted] = by_case.emplace(report.case_id, report);
    if (!inserted) {
      throw Error(report.origin + ": case '" + report.case_id + "' already has a report at " + it->second.origin);
    }
  }
  return by_case;
}

}  // namespace tessera::stages
