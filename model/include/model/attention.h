#pragma once

// The one compile-time switch point of the attention kernel, shared by the
// UNet's cross-attention and CLIP's self-attention: on LibTorch >= 2.0 it calls
// at::scaled_dot_product_attention (flash / memory-efficient kernels on GPU),
// before that it runs the math path.

#include <torch/types.h>

namespace tessera::model {

// softmax(q k^T / sqrt(head_dim) + additive_mask) v on (B, heads, T, head_dim)
// tensors. `additive_mask` broadcasts to (B, heads, T, S), has q's dtype (0
// where allowed, a large negative value where blocked), or is undefined.
torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& additive_mask = torch::Tensor());
// The math path, always available (the reference the switch point is tested against).
torch::Tensor scaled_dot_product_math(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                      const torch::Tensor& additive_mask = torch::Tensor());
// Whether scaled_dot_product uses at::scaled_dot_product_attention: in a
// LibTorch >= 2.0 build, unless the math path was forced.
bool attention_uses_sdpa();
// Forces the math path process-wide (true), as upstream's recipe without
// fused attention; for benchmarks that compare the two. Default: false.
void set_attention_math_only(bool math_only);

}  // namespace tessera::model
