#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/progress.h"
#include "runtime/latent_encoder.h"

namespace tessera::store {
class Store;
}  // namespace tessera::store

namespace tessera::pipeline {

struct EncodeOptions {
  std::filesystem::path store;
  runtime::LatentEncoderOptions encoder;
  size_t batch = 16;  // tiles per forward pass. Default: 16.
  int jobs = 0;       // JPEG decoders; 0 means one per core. Default: 0.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct EncodeSummary {
  std::string model_id;
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

// The same graph on an open store with a loaded encoder (ingest's top-up pass).
EncodeSummary encode_missing(store::Store& store, runtime::LatentEncoder& encoder, size_t batch, int jobs,
                             Progress::Mode mode);

}  // namespace tessera::pipeline
