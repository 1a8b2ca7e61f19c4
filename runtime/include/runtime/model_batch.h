#pragma once

#include <cstddef>

#include "config/ldm_limits.h"

namespace tessera::runtime {

// The most items one model call takes: tiles per encoder pass, prompts per
// text-encoder pass, images per sampler call, crops per VAE training step:
// the bound of an LDM config's training.batch_size.
inline constexpr size_t kMaxModelBatch = size_t(config::kMaxBatchSize);

}  // namespace tessera::runtime
