#pragma once

#include <map>
#include <string>
#include <vector>

namespace tessera::stages {

struct Report {
  std::string case_id;
  std::string text;
  std::string origin;  // "file:line", for messages and provenance
};

struct ReportSourceOptions {
  // CSV columns. Defaults fit ../shared/data/reports/tcga_brca_reports.csv.
  std::string id_column = "case_submitter_id";  // Default: case_submitter_id.
  std::string text_column = "text";             // Default: text.
};

// Reports from a CSV file (.csv), a JSON-lines file (.jsonl: one object per
// line with the same two keys), or a folder of .txt files (case id = file
// name without extension). The whole source is read and checked before any
// report is returned; errors name the file, line and column or key. A case id
// listed twice is an error.
std::vector<Report> read_reports(const std::string& path, const ReportSourceOptions& options = {});

// Reports by case id.
std::map<std::string, Report> index_reports(std::vector<Report> reports);

}  // namespace tessera::stages
