#pragma once

#include <cstddef>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::stages {

// One extracted value and the byte range of the report it came from, so every
// prompt word can be traced back to the report text.
struct ReportField {
  std::string name;   // e.g. "histologic_type"
  std::string value;  // normalised, e.g. "invasive ductal carcinoma", "T2", "positive"
  size_t begin = 0;   // [begin, end) in the report text
  size_t end = 0;
  bool derived = false;         // computed from other fields (pT from size, pN from node counts)
  bool post_treatment = false;  // a stage after neoadjuvant treatment (ypT, ypN)
};

// Field names, in the order `extract_report_fields` returns them.
inline constexpr const char* kReportFieldNames[] = {
    "histologic_type", "grade", "er", "pr", "her2", "tumor_size_cm", "nodes_positive", "nodes_examined", "lvi",
    "margins",         "pt",    "pn", "pm"};

// Rule-based, deterministic extraction from OCR'd pathology report text
// (mixed case, broken lines, typos like "pNO"). Every rule is a regular
// expression listed in report_fields.cpp and documented in docs/PROMPTS.md.
// pT and pN come from the stated AJCC values (the highest when several foci are
// staged); without them, and only in a breast report (one that names the breast,
// a mastectomy or lumpectomy, or invasive ductal or lobular carcinoma), since
// these are AJCC's breast rules, pT is derived from the tumour size (AJCC 8: <= 2 cm T1,
// <= 5 cm T2, > 5 cm T3) and pN from the
// positive node count (0 N0, 1-3 N1, 4-9 N2, >= 10 N3). T4 is never derived:
// skin or chest-wall involvement is only taken when stated.
std::vector<ReportField> extract_report_fields(std::string_view text);

// The value of a named field, if extracted.
std::optional<ReportField> find_field(const std::vector<ReportField>& fields, std::string_view name);

// "T2a" -> "T2", "N1mi" -> "N1": the AJCC category used to measure accuracy.
std::string ajcc_category(std::string_view value);

}  // namespace tessera::stages
