#pragma once

// The tensors of a run's samples (runtime/latent_samples.h), one micro-batch
// at a time, on the host.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "model/trainer.h"
#include "runtime/latent_samples.h"

namespace tessera::runtime {

class LatentBatchReader {
 public:
  explicit LatentBatchReader(const LatentSamples& samples) : samples_(samples) {}

  // The samples at `positions`: KL latents are drawn from their posterior
  // with the sample's own seed, flips applied, prompts dropped as drawn.
  // Throws tessera::Error for a latent or an embedding missing from the store.
  model::TrainingBatch read(const std::vector<SamplePosition>& positions);

 private:
  const torch::Tensor& embedding(const std::string& prompt_id);
  torch::Tensor latent(const TrainingSample& sample, const SampleDraw& draw) const;

  const LatentSamples& samples_;
  std::map<uint64_t, std::vector<uint32_t>> orders_;  // epoch -> permutation, the last two kept
  std::map<std::string, torch::Tensor> embeddings_;
};

}  // namespace tessera::runtime
