#include "pipeline/merge.h"

#include <spdlog/spdlog.h>

#include "run_clock.h"
#include "store/store.h"

namespace tessera::pipeline {

MergeSummary run_merge(const MergeOptions& options) {
  const RunClock clock;
  const Progress::Mode mode = resolve_mode(options.progress);
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("merge: {} shard stores into {}", options.shards.size(), options.into.string());
  }
  auto store = store::Store::open(options.into);
  constexpr uint64_t kMiB = uint64_t{1} << 20;
  Progress progress(mode, 1, std::chrono::seconds(10), ProgressUnits{"MiB", ""});
  bool planned = false;
  uint64_t done = 0;
  store::MergeOptions merge;
  merge.on_progress = [&](uint64_t bytes_read, uint64_t bytes_total) {
    if (!planned) {
      progress.slide_planned(std::max<uint64_t>(1, bytes_total / kMiB));
      planned = true;
    }
    progress.tiles_done(bytes_read / kMiB - done);
    done = bytes_read / kMiB;
  };
  MergeSummary summary;
  summary.result = store->merge(options.shards, merge);
  progress.finish();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
