#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>

namespace re2 {
class RE2;
}

namespace tessera::stages {

struct CaseMatchOptions {
  // First capture group of this regular expression (RE2) applied to the slide
  // id. Default: none (TCGA barcodes).
  std::string regex;
  // CSV with columns `slide` and `case`. Default: none.
  std::string mapping_csv;
};

// Which case (patient) a slide belongs to. By default the TCGA barcode: a slide
// id starting "TCGA-XX-XXXX" belongs to that 12-character case. A mapping CSV,
// or a regex, overrides it.
class CaseMatcher {
 public:
  explicit CaseMatcher(const CaseMatchOptions& options = {});
  ~CaseMatcher();
  CaseMatcher(CaseMatcher&&) noexcept;

  std::optional<std::string> case_id(const std::string& slide_id) const;
  std::string describe() const;  // e.g. "TCGA barcode", "regex ...", "mapping file.csv"

 private:
  std::unique_ptr<re2::RE2> pattern_;
  std::map<std::string, std::string> mapping_;
  std::string description_;
};

}  // namespace tessera::stages
