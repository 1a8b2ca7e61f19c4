#pragma once

// Training batches out of the store: one first-stage model's latents paired
// with one text encoder's embeddings of the tiles' prompts.

#include <torch/types.h>

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "runtime/training_samples.h"

namespace tessera::store {
class Store;
}  // namespace tessera::store

namespace tessera::runtime {

struct LatentBatchOptions {
  std::string vae_model_id;
  std::string text_model_id;
  std::string empty_prompt_id;  // the unconditional embedding's key
  double scale_factor = 1.0;    // the LDM's: latents are multiplied by it
  double drop_probability = 0.1;
  bool flips = true;
  uint64_t seed = 0;
};

struct LatentBatch {
  torch::Tensor latents;   // (B, C, H, W) float32, scaled
  torch::Tensor contexts;  // (B, L, D) float32
  size_t dropped = 0;      // samples that took the empty prompt
};

class LatentBatchReader {
 public:
  // Lists the samples: every tile of every complete slide that has a latent
  // of the model. Throws tessera::Error when there is none, when slides of
  // different tile sizes would mix latent shapes, or when a prompt (the empty
  // one included) has no embedding of the text model.
  LatentBatchReader(const store::Store& store, LatentBatchOptions options);

  const std::vector<TrainingSample>& samples() const { return samples_; }
  const LatentBatchOptions& options() const { return options_; }
  uint64_t tiles_without_latents() const { return tiles_without_latents_; }
  // XXH3-64 of every sample's tile key and prompt id, in order: a resumed
  // run must see the same samples, not merely as many.
  const std::string& samples_fingerprint() const { return samples_fingerprint_; }
  // Shape of one stored latent (C, H, W).
  const std::vector<int64_t>& latent_shape() const { return latent_shape_; }
  int64_t context_width() const { return context_width_; }

  // The samples at `positions`: KL latents are drawn from their posterior
  // with the sample's own seed, flips applied, prompts dropped as drawn.
  // Throws tessera::Error for a prompt whose embedding is missing.
  LatentBatch read(const std::vector<SamplePosition>& positions);

 private:
  const torch::Tensor& embedding(const std::string& prompt_id);
  torch::Tensor latent(const TrainingSample& sample, const SampleDraw& draw) const;

  const store::Store& store_;
  LatentBatchOptions options_;
  std::vector<TrainingSample> samples_;
  uint64_t tiles_without_latents_ = 0;
  std::string samples_fingerprint_;
  std::vector<int64_t> latent_shape_;
  int64_t context_width_ = 0;
  std::map<uint64_t, std::vector<uint32_t>> orders_;  // epoch -> permutation, the last two kept
  std::map<std::string, torch::Tensor> embeddings_;
};

}  // namespace tessera::runtime
