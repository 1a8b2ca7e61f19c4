#include "evaluation_metrics.h"

#include <algorithm>
#include <cmath>

#include "base/error.h"

namespace tessera::pipeline {

nlohmann::ordered_json compare_features(const runtime::FeatureMatrix& real, const runtime::FeatureMatrix& synthetic,
                                        const std::vector<std::string>& metrics, int k, uint64_t seed) {
  const auto wants = [&](const char* name) { return std::find(metrics.begin(), metrics.end(), name) != metrics.end(); };
  nlohmann::ordered_json out = {{"real", real.rows}, {"synthetic", synthetic.rows}};
  nlohmann::ordered_json notes = nlohmann::ordered_json::object();
  if (wants("fid")) {
    try {
      out["fid"] = runtime::frechet_distance(real, synthetic);
    } catch (const Error& e) {
      out["fid"] = nullptr;
      notes["fid"] = e.what();
    }
  }
  if (wants("kid")) {
    try {
      const auto kid =
          runtime::kernel_distance(real, synthetic, runtime::kKidSubsets, runtime::kKidMaxSubsetSize, seed);
      out["kid"] = {{"mean", kid.mean}, {"std", kid.std}, {"subsets", kid.subsets}, {"subset_size", kid.subset_size}};
    } catch (const Error& e) {
      out["kid"] = nullptr;
      notes["kid"] = e.what();
    }
  }
  if (wants("prdc")) {
    try {
      const auto r = runtime::precision_recall(real, synthetic, k);
      out["precision"] = r.precision;
      out["recall"] = r.recall;
      out["density"] = r.density;
      out["coverage"] = r.coverage;
    } catch (const Error& e) {
      for (const char* name : {"precision", "recall", "density", "coverage"}) out[name] = nullptr;
      notes["prdc"] = e.what();
    }
  }
  if (!notes.empty()) out["notes"] = notes;
  return out;
}

double percentile(std::vector<double> values, double q) {
  if (values.empty()) throw Error("a percentile of no values");
  std::sort(values.begin(), values.end());
  const double position = q / 100.0 * double(values.size() - 1);
  const auto below = size_t(std::floor(position));
  const size_t above = std::min(values.size() - 1, below + 1);
  return values[below] + (values[above] - values[below]) * (position - double(below));
}

MemorizationAudit audit_memorization(const runtime::FeatureMatrix& train, const runtime::FeatureMatrix& held_out,
                                     const runtime::FeatureMatrix& synthetic) {
  if (train.rows == 0 || held_out.rows == 0 || synthetic.rows == 0) {
    throw Error("the memorisation audit needs training tiles, held-out tiles and synthetic images");
  }
  MemorizationAudit audit;
  audit.held_out = runtime::nearest_rows(held_out, train);
  audit.synthetic = runtime::nearest_rows(synthetic, train);
  audit.threshold = percentile(audit.held_out.distance, kMemorizationPercentile);
  const auto below = std::count_if(audit.synthetic.distance.begin(), audit.synthetic.distance.end(),
                                   [&](double d) { return d < audit.threshold; });
  audit.share_below = double(below) / double(synthetic.rows);
  return audit;
}

}  // namespace tessera::pipeline
