#pragma once

// What an LDM training run trains on: every tile of the store's complete
// slides that has a latent of one first-stage model, paired with its prompt,
// whose embedding by one text encoder conditions it.

#include <cstdint>
#include <string>
#include <vector>

#include "runtime/training_samples.h"

namespace tessera::store {
class Store;
}  // namespace tessera::store

namespace tessera::runtime {

struct LatentSampleOptions {
  std::string vae_model_id;
  std::string text_model_id;
  std::string empty_prompt_id;  // the unconditional embedding's key
  double scale_factor = 1.0;    // the LDM's: latents are multiplied by it
  double drop_probability = 0.1;
  bool flips = true;
  uint64_t seed = 0;
};

class LatentSamples {
 public:
  // Lists the samples. Throws tessera::Error when there is none, when slides
  // of different tile sizes would mix latent shapes, or when a prompt (the
  // empty one too) has no embedding: before the first step, not hours in.
  LatentSamples(const store::Store& store, LatentSampleOptions options);

  const store::Store& store() const { return store_; }
  const LatentSampleOptions& options() const { return options_; }
  const std::vector<TrainingSample>& samples() const { return samples_; }
  // Tiles of complete slides left out for want of a latent.
  uint64_t tiles_without_latents() const { return tiles_without_latents_; }
  // A hash of the samples' tiles and prompts, in order: a resumed run must
  // see the same list.
  const std::string& fingerprint() const { return fingerprint_; }
  // Shape of one latent as trained (C, H, W): a KL posterior's sample, not
  // its moments.
  const std::vector<int64_t>& latent_shape() const { return latent_shape_; }
  int64_t context_width() const { return context_width_; }

 private:
  const store::Store& store_;
  LatentSampleOptions options_;
  std::vector<TrainingSample> samples_;
  uint64_t tiles_without_latents_ = 0;
  std::string fingerprint_;
  std::vector<int64_t> latent_shape_;
  int64_t context_width_ = 0;
};

}  // namespace tessera::runtime
