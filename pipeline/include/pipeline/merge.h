#pragma once

#include <filesystem>
#include <vector>

#include "pipeline/progress.h"
#include "store/merge.h"

namespace tessera::pipeline {

struct MergeOptions {
  std::filesystem::path into;                 // created when absent
  std::vector<std::filesystem::path> shards;  // stores written by sharded ingest or encode runs
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct MergeSummary {
  store::MergeResult result;
  double seconds = 0;
};

// `tessera merge`: Store::merge with progress (MiB of the shards read) and
// the target's lock held. A rerun finds everything present and changes
// nothing; a merge killed at any point leaves the target as it was, or
// merged whole. Throws tessera::Error as Store::merge does.
MergeSummary run_merge(const MergeOptions& options);

}  // namespace tessera::pipeline
