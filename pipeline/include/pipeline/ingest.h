#pragma once

#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/ingest_options.h"

namespace tessera::pipeline {

// A stored slide whose id a different file (another quickhash) now has: its
// tiles were removed and the new file's stored instead.
struct SlideReplacement {
  std::string id;
  std::string stored_path;  // the file the removed tiles came from
  std::string path;         // the file now stored under the id
  uint64_t tiles_removed = 0;
};

struct IngestSummary {
  std::string shard;                  // "index/count", "" without --shard
  size_t slides_in_other_shards = 0;  // found, and left to the other shards
  size_t slides = 0;
  size_t complete = 0;  // done in this run
  size_t skipped = 0;   // already complete with the same configuration
  size_t failed = 0;
  size_t without_report = 0;  // complete slides that matched no report (tile-only prompts)
  std::vector<std::pair<std::string, std::string>> failures;  // slide path, error
  std::vector<SlideReplacement> replaced;                     // in the order they were replaced
  uint64_t tiles_read = 0;
  uint64_t tiles_kept = 0;
  std::string model_id;                                              // with an encoder: its model
  uint64_t tiles_encoded = 0;                                        // latents written, in the graph and after it
  std::vector<std::pair<std::string, std::string>> encode_failures;  // slide id, error (top-up pass)
  double seconds = 0;
  bool interrupted = false;
};

// Ingests slides into the store as one streaming TBB flow graph:
//
//   slide source (open, skip if current, plan: thumbnail, mask, grid)
//     -> limiter (tiles in flight)
//     -> tile reader (parallel: OpenSlide read, libvips resample, filters, JPEG)
//     -> store writer (serial: bounded batches, the slide's status last;
//        with an encoder, kept tiles are encoded in batches here, from their
//        stored JPEG so that they equal what `tessera encode` would make)
//
// A slide that fails is recorded as failed and the run goes on. Throws
// tessera::Error only for what stops the whole run (the store cannot be opened
// or locked, a bad option).
IngestSummary run_ingest(const IngestOptions& options);

}  // namespace tessera::pipeline
