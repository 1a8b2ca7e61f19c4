#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/progress.h"
#include "pipeline/shard.h"
#include "runtime/latent_encoder.h"

namespace tessera::store {
class Store;
}  // namespace tessera::store

namespace tessera::pipeline {

struct EncodeOptions {
  std::filesystem::path store;
  // Write the latents (and the model's record) into this store instead, and
  // only read `store`: a job array re-encodes a shared store for a new VAE,
  // each task into a store of its own for `tessera merge`. Default: empty
  // (into `store`).
  std::filesystem::path out;
  // Only the slides of this shard (shard.h). Default: unset (every slide).
  std::optional<Shard> shard;
  runtime::LatentEncoderOptions encoder;
  size_t batch = 16;  // tiles per forward pass. Default: 16.
  int jobs = 0;       // JPEG decoders; 0 means one per core. Default: 0.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct EncodeSummary {
  std::string model_id;
  std::string shard;                                          // "index/count", "" without a shard
  size_t slides_in_other_shards = 0;                          // complete slides left to the other shards
  size_t slides = 0;                                          // complete slides in the store
  size_t slides_encoded = 0;                                  // slides that had tiles without latents
  uint64_t tiles = 0;                                         // tiles of the complete slides
  uint64_t tiles_present = 0;                                 // already encoded by this model before the run
  uint64_t tiles_encoded = 0;                                 // encoded in this run
  std::vector<std::pair<std::string, std::string>> failures;  // slide id, error
  double seconds = 0;
  // Wall time inside the model's forward passes (host-synchronised, so on a
  // GPU it includes waiting for the kernels): model_seconds / seconds is the
  // share of the run the model was busy, 1 when tiles never kept it waiting.
  double model_seconds = 0;
  bool interrupted = false;
};

// Encodes, from the pixels in the store, exactly the tiles of complete slides
// that have no latent of the encoder's model; never reopens a slide. As a
// TBB flow graph:
//
//   batch source (serial: one slide's missing tiles, up to `batch`)
//     -> limiter (batches in flight)
//     -> decoder (parallel: stored JPEG -> the batch's host buffer)
//     -> encoder (serial: the VAE, on the GPU when there is one)
//     -> writer (serial: one RocksDB batch per tile batch)
//
// A kill loses at most the batches in flight; rerunning encodes the rest,
// and keys (model, tile) make duplicates impossible. SIGINT stops after the
// batches in flight. Throws tessera::Error only for what stops the whole run.
EncodeSummary run_encode(const EncodeOptions& options);

// The same graph on open stores with a loaded encoder (also ingest's top-up
// pass): the tiles of `tiles` that have a latent of the encoder's model in
// neither store are encoded into `latents`, which may be the same store.
EncodeSummary encode_missing(const store::Store& tiles, store::Store& latents, runtime::LatentEncoder& encoder,
                             size_t batch, int jobs, Progress::Mode mode, const std::optional<Shard>& shard);

}  // namespace tessera::pipeline
