#pragma once

#include <cstddef>

namespace tessera::runtime {

// The most items one model call takes: tiles per encoder pass, prompts per
// text-encoder pass, images per sampler call, crops per VAE training step.
// Far above what fits a GPU; it catches a mistyped number before it becomes
// an allocation.
inline constexpr size_t kMaxModelBatch = 4096;

}  // namespace tessera::runtime
