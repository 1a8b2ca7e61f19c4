#include "model/attention.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <atomic>
#include <cmath>
#include <limits>
#include <optional>
#include <stdexcept>
#include <utility>
#include <vector>

#include "model/device.h"

#if defined(TORCH_VERSION_MAJOR) && TORCH_VERSION_MAJOR >= 2
#define TESSERA_USE_SDPA 1
#else
#define TESSERA_USE_SDPA 0
#endif

namespace tessera::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

std::atomic<bool> g_math_only{false};

// One block of queries against all keys, by the build's kernel.
torch::Tensor attend(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
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

// The mask's rows for queries [start, start + rows): a mask that broadcasts
// over the queries is shared by every chunk.
torch::Tensor mask_rows(const torch::Tensor& additive_mask, int64_t start, int64_t rows) {
  if (!additive_mask.defined() || additive_mask.dim() < 2 || additive_mask.size(-2) == 1) return additive_mask;
  return additive_mask.narrow(-2, start, rows);
}

torch::Tensor attend_in_chunks(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                               const torch::Tensor& additive_mask, int64_t rows) {
  const int64_t queries = q.size(-2);
  std::vector<torch::Tensor> outputs;
  outputs.reserve(size_t((queries + rows - 1) / rows));
  for (int64_t start = 0; start < queries; start += rows) {
    const int64_t n = std::min(rows, queries - start);
    outputs.push_back(attend(q.narrow(-2, start, n), k, v, mask_rows(additive_mask, start, n)));
  }
  return torch::cat(outputs, -2);
}

// Chunked attention under autograd, as memory-efficient attention does it:
// the forward pass keeps q, k and v only, and the backward pass recomputes one
// chunk's scores at a time and back-propagates through it. The CUDA autocast
// state of the forward pass is restored for the recomputation, which runs on
// the autograd engine's thread.
class ChunkedAttention : public torch::autograd::Function<ChunkedAttention> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, torch::Tensor q, torch::Tensor k, torch::Tensor v,
                               torch::Tensor additive_mask, int64_t rows) {
    ctx->saved_data["rows"] = rows;
    const auto autocast = current_cuda_autocast();
    ctx->saved_data["autocast"] = autocast ? int64_t(*autocast) : int64_t(-1);
    ctx->save_for_backward({q, k, v, additive_mask});
    torch::NoGradGuard no_grad;
    return attend_in_chunks(q, k, v, additive_mask.numel() == 0 ? torch::Tensor() : additive_mask, rows);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const int64_t rows = ctx->saved_data["rows"].toInt();
    const int64_t autocast = ctx->saved_data["autocast"].toInt();
    const auto saved = ctx->get_saved_variables();
    const torch::Tensor& q = saved[0];
    const torch::Tensor mask = saved[3].numel() == 0 ? torch::Tensor() : saved[3].detach();
    const bool q_grad = q.requires_grad(), k_grad = saved[1].requires_grad(), v_grad = saved[2].requires_grad();
    torch::AutoGradMode grad_on(true);
    const torch::Tensor k = saved[1].detach().requires_grad_(k_grad);
    const torch::Tensor v = saved[2].detach().requires_grad_(v_grad);
    torch::Tensor grad_q = q_grad ? torch::zeros_like(q) : torch::Tensor();
    torch::Tensor grad_k, grad_v;
    const torch::Tensor& grad_out = grad_outputs[0];
    const int64_t queries = q.size(-2);
    for (int64_t start = 0; start < queries; start += rows) {
      const int64_t n = std::min(rows, queries - start);
      // A copy, not a view: the chunk is a leaf of its own recomputed graph.
      const torch::Tensor q_rows = q.narrow(-2, start, n).detach().clone().requires_grad_(q_grad);
      torch::Tensor out;
      {
        std::optional<AutocastScope> scope;
        if (autocast >= 0) scope.emplace(q.device(), static_cast<Precision>(autocast));
        out = attend(q_rows, k, v, mask_rows(mask, start, n));
      }
      std::vector<torch::Tensor> inputs;
      if (q_grad) inputs.push_back(q_rows);
      if (k_grad) inputs.push_back(k);
      if (v_grad) inputs.push_back(v);
      const auto grads = torch::autograd::grad({out}, inputs, {grad_out.narrow(-2, start, n)},
                                               /*retain_graph=*/false, /*create_graph=*/false, /*allow_unused=*/true);
      size_t next = 0;
      if (q_grad) {
        const torch::Tensor& g = grads[next++];
        if (g.defined()) grad_q.narrow(-2, start, n).copy_(g);
      }
      for (auto [wanted, total] : {std::pair{k_grad, &grad_k}, std::pair{v_grad, &grad_v}}) {
        if (!wanted) continue;
        const torch::Tensor& g = grads[next++];
        if (g.defined()) *total = total->defined() ? *total + g : g;
      }
    }
    // Autocast caches its low-precision copies of the weights per thread until
    // the outermost scope on that thread ends; see gradient_checkpoint.cpp.
    if (autocast >= 0) at::autocast::clear_cache();
    return {grad_q, grad_k, grad_v, torch::Tensor(), torch::Tensor()};
  }
};

}  // namespace

void set_attention_math_only(bool math_only) { g_math_only.store(math_only); }

int64_t attention_query_rows(int64_t batch_heads, int64_t queries, int64_t keys, int64_t element_bytes,
                             int64_t budget_bytes) {
  const int64_t row_bytes = std::max<int64_t>(1, batch_heads) * std::max<int64_t>(1, keys) * element_bytes;
  return std::clamp<int64_t>(budget_bytes / row_bytes, 1, std::max<int64_t>(1, queries));
}

torch::Tensor scaled_dot_product_math(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                      const torch::Tensor& additive_mask) {
  // Scale q before the product, as CLIPAttention and nn.MultiheadAttention do.
  const double scale = 1.0 / std::sqrt(static_cast<double>(q.size(-1)));
  torch::Tensor scores = torch::matmul(q * scale, k.transpose(-2, -1));  // (B, H, T, S)
  if (additive_mask.defined()) scores = scores + additive_mask;
  return torch::matmul(torch::softmax(scores, -1), v);
}

torch::Tensor scaled_dot_product_in_chunks(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                           const torch::Tensor& additive_mask, int64_t query_rows) {
  if (query_rows <= 0) throw std::invalid_argument("attention query chunks need at least one row");
  if (query_rows >= q.size(-2)) return attend(q, k, v, additive_mask);
  const bool needs_grad =
      torch::GradMode::is_enabled() && (q.requires_grad() || k.requires_grad() || v.requires_grad());
  if (!needs_grad) return attend_in_chunks(q, k, v, additive_mask, query_rows);
  // Autograd functions take defined tensors only: no mask travels as an empty one.
  return ChunkedAttention::apply(
      q, k, v, additive_mask.defined() ? additive_mask.detach() : torch::empty({0}, q.options()), query_rows);
}

torch::Tensor scaled_dot_product(const torch::Tensor& q, const torch::Tensor& k, const torch::Tensor& v,
                                 const torch::Tensor& additive_mask) {
  const int64_t queries = q.size(-2), keys = k.size(-2);
  const int64_t batch_heads = q.numel() / std::max<int64_t>(1, queries * q.size(-1));
  // Scores are at least fp32: autocast runs the softmax in fp32.
  const int64_t element_bytes = std::max<int64_t>(q.element_size(), int64_t{sizeof(float)});
  return scaled_dot_product_in_chunks(q, k, v, additive_mask,
                                      attention_query_rows(batch_heads, queries, keys, element_bytes));
}

bool attention_uses_sdpa() { return TESSERA_USE_SDPA != 0 && !g_math_only.load(); }

}  // namespace tessera::model
