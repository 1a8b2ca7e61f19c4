#pragma once

// Which complete slides go to val: whole cases or whole slides, chosen by
// choose_val_groups (pipeline/export.h).

#include <set>
#include <string>
#include <vector>

#include "pipeline/export.h"
#include "store/slide_record.h"

namespace tessera::pipeline {

// "case", "slide" or "none", as the --split-by flag and dataset.json name it.
const char* split_by_name(ExportOptions::SplitBy split_by);

class ValSplit {
 public:
  // Logs a warning when val > 0 but fewer than two groups can be split.
  ValSplit(const std::vector<store::SlideRecord>& slides, const ExportOptions& options);

  // "train" or "val".
  std::string split_of(const store::SlideRecord& slide) const;
  // Every case or slide id among the slides; none with --split-by none.
  const std::set<std::string>& groups() const { return groups_; }
  const std::set<std::string>& val_groups() const { return val_groups_; }

 private:
  ExportOptions::SplitBy split_by_;
  std::set<std::string> groups_;
  std::set<std::string> val_groups_;
};

}  // namespace tessera::pipeline
