#pragma once

// Gradient checkpointing, as torch.utils.checkpoint's reentrant variant (which
// upstream LDM's `checkpoint` wraps): a block runs forward without keeping its
// activations, and the backward pass runs it again with gradients on and
// back-propagates through the recomputation. Memory for one block's
// activations at a time, for about a third more compute.

#include <torch/types.h>

#include <functional>

namespace tessera::model {

// (x, emb, context) -> output, as a UNet block runs.
using CheckpointedBlock =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor& context)>;

// block(x, emb, context) with its activations recomputed in backward.
// Gradients flow to x, emb and the block's parameters; context (the frozen
// text encoder's output) gets none. `block` must be deterministic (dropout 0)
// and outlive the backward pass. The CUDA autocast state of the forward pass
// is restored for the recomputation, which runs on the autograd engine's
// thread.
torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& x, const torch::Tensor& emb,
                           const torch::Tensor& context);

}  // namespace tessera::model
