#pragma once

// The features of evaluation samples, each extracted once. A store's tiles
// keep theirs in the store (the `features` column family, under the
// extractor's id); other samples in a file of OUT/features/, appended batch
// by batch, so a killed run resumes where it stopped.
//
// OUT/features/<side>.features: "TSFEAT01", u32 LE dimension, the
// extractor's id and a hash of the sample names (32 hex digits each), then
// one row of float32 LE values per sample in sample order. A file of another
// extractor or other samples is started afresh.

#include <cstdint>
#include <filesystem>
#include <vector>

#include "evaluation_sets.h"
#include "pipeline/progress.h"
#include "runtime/feature_extractor.h"
#include "store/store.h"

namespace tessera::pipeline {

struct FeatureCounts {
  uint64_t cached = 0;
  uint64_t extracted = 0;
};

// The features of `samples`, in order, as float32 values (the precision
// they are cached in, so a rerun computes the same metrics). Tiles come from
// and go to `store`; files from and to `cache_file`. Stops early when a stop
// is requested (pipeline/interrupt.h): fewer rows than samples.
// Throws tessera::Error naming the file or tile at fault.
runtime::FeatureMatrix sample_features(runtime::FeatureExtractor& extractor, const std::vector<EvalSample>& samples,
                                       store::Store* store, const std::filesystem::path& cache_file, size_t batch,
                                       Progress& progress, FeatureCounts& counts);

}  // namespace tessera::pipeline
