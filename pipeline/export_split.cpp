#include "export_split.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cmath>
#include <utility>

#include "export_output_folder.h"
#include "export_samples.h"

namespace tessera::pipeline {
namespace {

std::string group_of(const store::SlideRecord& slide, ExportOptions::SplitBy split_by) {
  return split_by == ExportOptions::SplitBy::kCase ? case_of(slide) : slide.id;
}

}  // namespace

const char* split_by_name(ExportOptions::SplitBy split_by) {
  using SplitBy = ExportOptions::SplitBy;
  return split_by == SplitBy::kCase ? "case" : split_by == SplitBy::kSlide ? "slide" : "none";
}

std::set<std::string> choose_val_groups(const std::set<std::string>& groups, double val, uint64_t seed) {
  const size_t n = groups.size();
  if (!(val > 0) || n < 2) return {};
  const size_t k = std::clamp<size_t>(size_t(std::llround(val * double(n))), 1, n - 1);
  std::vector<std::pair<uint64_t, std::string>> order;
  order.reserve(n);
  for (const auto& g : groups) order.emplace_back(XXH3_64bits_withSeed(g.data(), g.size(), seed), g);
  std::sort(order.begin(), order.end());
  std::set<std::string> chosen;
  for (size_t i = 0; i < k; ++i) chosen.insert(order[i].second);
  return chosen;
}

ValSplit::ValSplit(const std::vector<store::SlideRecord>& slides, const ExportOptions& options)
    : split_by_(options.split_by) {
  if (split_by_ != ExportOptions::SplitBy::kNone) {
    for (const auto& slide : slides) groups_.insert(group_of(slide, split_by_));
  }
  val_groups_ = choose_val_groups(groups_, options.val, options.seed);
  if (options.val > 0 && groups_.size() < 2 && split_by_ != ExportOptions::SplitBy::kNone) {
    spdlog::warn("split: fewer than two {}s among the complete slides; everything goes to train",
                 split_by_name(split_by_));
  }
}

std::string ValSplit::split_of(const store::SlideRecord& slide) const {
  return val_groups_.count(group_of(slide, split_by_)) ? kVal : kTrain;
}

}  // namespace tessera::pipeline
