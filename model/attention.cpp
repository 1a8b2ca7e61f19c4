#include "model/attention.h"

#include <torch/torch.h>
#include <torch/version.h>

#include <atomic>
#include <cmath>
#include <limits>

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
#define TESSERA_USE_SDPA 1
#else
#define TESSERA_USE_SDPA 0
#endif

namespace tessera::model {
namespace {

std::atomic<bool> g_math_only{false};

}  // namespace

void set_attention_math_only(bool math_only) { g_math_only.store(math_only); }

torch::Tensor scaled_dot_product_math(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                      const torch::Tensor& additive_mask) {
  // Scale q before the product, as CLIPAttention and nn.MultiheadAttention do.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1));  // (B, H, T, S)
  if (additive_mask.defined()) scores = scores + additive_mask;
  return torch::matmul(torch::softmax(scores, -1), v);
}

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& additive_mask) {
#if TESSERA_USE_SDPA
  if (g_math_only.load(std::memory_order_relaxed)) return scaled_dot_product_math(q, k, v, additive_mask);
  // A float attn_mask is added to the scaled scores; the default scale is
  // 1/sqrt(head_dim). The mask is expanded to (B, H, T, S) because some
  // kernels reject masks that broadcast only over the batch.
  if (!additive_mask.defined()) return at::scaled_dot_product_attention(q, k, v);
  // Under CUDA autocast q is fp16/bf16 while the mask was built in fp32, whose
  // lowest() would become -inf and turn fully masked rows into NaN: bring the
  // mask to q's dtype with that dtype's own finite floor.
  torch::Tensor mask = additive_mask.expand({q.size(0), q.size(1), q.size(2), k.size(2)});
  if (mask.scalar_type() != q.scalar_type()) {
    const double floor = q.scalar_type() == torch::kHalf       ? -65504.0
                         : q.scalar_type() == torch::kBFloat16 ? -3.38e38
                                                               : std::numeric_limits<double>::lowest();
    mask = mask.clamp_min(floor).to(q.scalar_type());
  }
  return at::scaled_dot_product_attention(q, k, v, mask, 0.0, false);
#else
  return scaled_dot_product_math(q, k, v, additive_mask);
#endif
}

bool attention_uses_sdpa() { return TESSERA_USE_SDPA != 0 && !g_math_only.load(); }

}  // namespace tessera::model
