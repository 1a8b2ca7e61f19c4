#pragma once

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

namespace tessera::store {

struct MergeOptions {
  // Called as the files are built, with the bytes of shard entries read so
  // far and the shards' total on disk (an estimate: blob and table files,
  // compressed). Default: none.
  std::function<void(uint64_t bytes_read, uint64_t bytes_total)> on_progress;
};

// One table file the merge added, where RocksDB placed it.
struct MergedFile {
  std::string column_family;
  std::string name;  // in STORE/db after the merge
  int level = 0;     // 6 is the bottom: placed without a compaction above it
  uint64_t bytes = 0;
  uint64_t entries = 0;
};

// What Store::merge found and did. Counts are of what was added; what the
// target held already, byte for byte, is counted under *_present.
struct MergeResult {
  std::vector<std::string> shards;
  uint64_t slides_added = 0;
  uint64_t slides_present = 0;  // in the target already, identical: skipped
  uint64_t tiles_added = 0;
  uint64_t latents_added = 0;
  uint64_t latents_present = 0;
  uint64_t features_added = 0;
  uint64_t prompts_added = 0;  // prompt records; their sources ride with them
  uint64_t embeddings_added = 0;
  std::vector<std::string> models_added;
  bool vocabulary_added = false;
  // The files built and ingested, one per column family with new entries;
  // empty when the target held everything already (a rerun).
  std::vector<MergedFile> files;
  uint64_t entries = 0;
  uint64_t bytes = 0;        // of the files, as ingested
  uint64_t bytes_read = 0;   // of the shards' entries, keys and values
  bool hard_linked = false;  // the files were linked into the store, not copied
};

}  // namespace tessera::store
