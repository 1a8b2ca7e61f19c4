#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "pipeline/progress.h"
#include "runtime/feature_extractor.h"

namespace tessera::pipeline {

struct EvaluateOptions {
  // The feature extractor: a TorchScript file and its preprocessing.
  runtime::FeatureExtractorOptions extractor;
  // generate's output folder (its manifest gives each image's prompt, bins
  // and model ids), any folder of PNG/JPEG images, or WebDataset shards (or
  // a folder of them).
  std::vector<std::filesystem::path> synthetic;
  // The real side: a store, or a folder of images or shards. Exactly one.
  std::filesystem::path real_store;
  std::vector<std::filesystem::path> real;
  // Which of the store's tiles are the reference: "val" (cases the model did
  // not train on, split as `tessera export` splits them), "train" or "all".
  // Default: val.
  std::string split = "val";
  // The store's split, as export's --val and --seed. Defaults: export's.
  double val = -1;          // < 0: export's default
  uint64_t split_seed = 0;  // export's default
  std::filesystem::path out;
  // Samples drawn from each side (and from the store's training tiles for
  // the memorisation audit); 0 takes every one. Default: 0.
  uint64_t n = 0;
  uint64_t seed = 0;  // draws the samples and KID's subsets. Default: 0.
  int k = 5;          // neighbours of precision/recall/density/coverage. Default: 5.
  // "fid", "kid" and "prdc". Default: all three.
  std::vector<std::string> metrics = {"fid", "kid", "prdc"};
  size_t batch = 32;  // images per extractor call. Default: 32.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct EvaluateSummary {
  std::filesystem::path out;
  std::string extractor_id;
  uint64_t real = 0, synthetic = 0;  // samples compared
  uint64_t extracted = 0;            // features computed by this run
  uint64_t cached = 0;               // features found in the store or OUT
  std::string evaluation_json;       // OUT/evaluation.json as written; empty when interrupted
  double seconds = 0;
  double feature_seconds = 0;  // of which finding and extracting the features
  bool interrupted = false;    // SIGINT: the features so far are kept; rerun to finish
};

// Compares a synthetic set with real tiles (docs/EVALUATE.md): draws the
// samples, extracts their features (a store's tiles' features are cached in
// the store under the extractor's id, other features in OUT/features/, so a
// killed run resumes and a second evaluation extracts nothing new for the
// real side), then writes OUT/evaluation.json, OUT/metrics.png and, with a
// store, OUT/nearest.png, each under its final name only when complete.
// Holds OUT's lock while it writes. Throws tessera::Error naming the file,
// field or setting at fault.
EvaluateSummary run_evaluate(const EvaluateOptions& options);

}  // namespace tessera::pipeline
