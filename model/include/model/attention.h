#pragma once

// The one attention kernel of every model: the VAE's mid-block attention, the
// UNet's spatial self-attention and cross-attention, and CLIP's self-attention.
// On LibTorch >= 2.0 it calls at::scaled_dot_product_attention (flash /
// memory-efficient kernels on GPU), before that it runs the math path.
//
// Memory is bounded on every path: the queries are split into chunks so that
// one chunk's score matrix (batch x heads x rows x keys) stays within
// kAttentionScoreBudgetBytes. Every query row is independent, so the result is
// the unchunked one. Under autograd a chunked call keeps only q, k and v and
// recomputes each chunk's scores in the backward pass, so training is bounded
// the same way.

#include <torch/types.h>

#include <cstdint>

namespace tessera::model {

// The most bytes one chunk's score matrix may take. The math path holds about
// three such blocks at once (scores, their softmax, its product's workspace).
inline constexpr int64_t kAttentionScoreBudgetBytes = int64_t{256} << 20;

// Query rows per chunk so that (batch_heads x rows x keys) elements of
// `element_bytes` fit `budget_bytes`; at least 1, at most `queries`.
int64_t attention_query_rows(int64_t batch_heads, int64_t queries, int64_t keys, int64_t element_bytes,
                             int64_t budget_bytes = kAttentionScoreBudgetBytes);

// softmax(q k^T / sqrt(head_dim) + additive_mask) v on (B, heads, T, head_dim)
// tensors, in chunks of attention_query_rows(...) queries. `additive_mask`
// broadcasts to (B, heads, T, S), has q's dtype (0 where allowed, a large
// negative value where blocked), or is undefined; it gets no gradient.
torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& additive_mask = torch::Tensor());
// The same in chunks of `query_rows` queries (the seam the chunking is tested at).
torch::Tensor scaled_dot_product_in_chunks(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           const torch::Tensor& additive_mask, int64_t query_rows);
// The math path over the whole score matrix at once, always available: the
// reference the switch point and the chunking are tested against.
torch::Tensor scaled_dot_product_math(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                      const torch::Tensor& additive_mask = torch::Tensor());
// Whether scaled_dot_product uses at::scaled_dot_product_attention: in a
// LibTorch >= 2.0 build, unless the math path was forced.
bool attention_uses_sdpa();
// Forces the math path process-wide (true), as upstream's recipe without
// fused attention; for benchmarks that compare the two. Default: false.
void set_attention_math_only(bool math_only);

}  // namespace tessera::model
