#pragma once

// The metrics of one comparison (a whole evaluation, or one bin or model of
// it) as evaluation.json holds them, and the memorisation audit.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "runtime/feature_metrics.h"

namespace tessera::pipeline {

// {"real": n, "synthetic": m, "fid": x, "kid": {"mean", "std", "subsets",
// "subset_size"}, "precision", "recall", "density", "coverage"} for the
// metrics asked ("fid", "kid", "prdc"); a metric the samples cannot give
// (too few of them) is null, with the reason under "notes" by metric name.
nlohmann::ordered_json compare_features(const runtime::FeatureMatrix& real, const runtime::FeatureMatrix& synthetic,
                                        const std::vector<std::string>& metrics, int k, uint64_t seed);

// The share of synthetic images whose nearest training tile is nearer than
// the `percentile`-th percentile of the same distance for held-out real
// tiles.
inline constexpr double kMemorizationPercentile = 1.0;

struct MemorizationAudit {
  double threshold = 0;  // the percentile of the held-out tiles' nearest-training distances
  double share_below = 0;
  runtime::NearestRows synthetic;  // per synthetic image: its nearest training tile
  runtime::NearestRows held_out;   // per held-out tile: its nearest training tile
};

// Throws tessera::Error when a set is empty.
MemorizationAudit audit_memorization(const runtime::FeatureMatrix& train, const runtime::FeatureMatrix& held_out,
                                     const runtime::FeatureMatrix& synthetic);

// The q-th percentile (0..100) of `values`, linearly interpolated as numpy's
// default does. Throws tessera::Error for no values.
double percentile(std::vector<double> values, double q);

}  // namespace tessera::pipeline
