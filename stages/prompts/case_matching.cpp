#include "prompts/case_matching.h"

#include <re2/re2.h>

#include "base/error.h"
#include "prompts/csv_table.h"

namespace tessera::stages {

CaseMatcher::CaseMatcher(const CaseMatchOptions& options) {
  if (!options.mapping_csv.empty()) {
    const CsvTable table = read_csv(options.mapping_csv);
    const size_t slide = table.column("slide"), case_column = table.column("case");
    for (size_t r = 0; r < table.rows.size(); ++r) {
      const auto [it, inserted] = mapping_.emplace(table.rows[r][slide], table.rows[r][case_column]);
      if (!inserted) throw Error(table.where(r) + ": slide '" + it->first + "' is listed twice");
    }
    description_ = "mapping " + options.mapping_csv;
    return;
  }
  const std::string regex = options.regex.empty() ? "^(TCGA-[A-Za-z0-9]{2}-[A-Za-z0-9]{4})" : options.regex;
  pattern_ = std::make_unique<re2::RE2>(regex, re2::RE2::Quiet);
  if (!pattern_->ok()) throw Error("case regex '" + regex + "' is invalid: " + pattern_->error());
  if (pattern_->NumberOfCapturingGroups() < 1) throw Error("case regex '" + regex + "' needs a capture group");
  description_ = options.regex.empty() ? "TCGA barcode" : "regex " + regex;
}

CaseMatcher::~CaseMatcher() = default;
CaseMatcher::CaseMatcher(CaseMatcher&&) noexcept = default;

std::optional<std::string> CaseMatcher::case_id(const std::string& slide_id) const {
  if (!pattern_) {
    const auto it = mapping_.find(slide_id);
    if (it == mapping_.end()) return std::nullopt;
    return it->second;
  }
  std::string captured;
  if (!re2::RE2::PartialMatch(slide_id, *pattern_, &captured) || captured.empty()) return std::nullopt;
  return captured;
}

std::string CaseMatcher::describe() const { return description_; }

}  // namespace tessera::stages
