#include "model/gradient_checkpoint.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>

#include <optional>

#include "model/device.h"

namespace tessera::model {
namespace {

using torch::autograd::AutogradContext;
using torch::autograd::variable_list;

class CheckpointFunction : public torch::autograd::Function<CheckpointFunction> {
 public:
  static torch::Tensor forward(AutogradContext* ctx, const CheckpointedBlock* block, torch::Tensor x, torch::Tensor emb,
                               torch::Tensor context) {
    // The address only: the block outlives the graph, as the caller promises.
    ctx->saved_data["block"] = reinterpret_cast<int64_t>(block);
    const auto autocast = current_cuda_autocast();
    ctx->saved_data["autocast"] = autocast ? int64_t(*autocast) : int64_t(-1);
    ctx->save_for_backward({x, emb, context});
    torch::NoGradGuard no_grad;
    return (*block)(x, emb, context.numel() == 0 ? torch::Tensor() : context);
  }

  static variable_list backward(AutogradContext* ctx, variable_list grad_outputs) {
    const auto* block = reinterpret_cast<const CheckpointedBlock*>(ctx->saved_data["block"].toInt());
    const int64_t autocast = ctx->saved_data["autocast"].toInt();
    const auto saved = ctx->get_saved_variables();
    torch::AutoGradMode grad_on(true);
    torch::Tensor x = saved[0].detach().requires_grad_(saved[0].requires_grad());
    torch::Tensor emb = saved[1].detach().requires_grad_(saved[1].requires_grad());
    const torch::Tensor context = saved[2].numel() == 0 ? torch::Tensor() : saved[2].detach();
    torch::Tensor out;
    {
      std::optional<AutocastScope> scope;
      if (autocast >= 0) scope.emplace(x.device(), static_cast<Precision>(autocast));
      out = (*block)(x, emb, context);
    }
    torch::autograd::backward({out}, {grad_outputs[0]});
    // Autocast caches its low-precision copies of the weights per thread until
    // the outermost scope on that thread ends; the engine's thread may never
    // leave one, and the optimiser updates the weights in place between steps.
    if (autocast >= 0) at::autocast::clear_cache();
    return {torch::Tensor(), x.grad(), emb.grad(), torch::Tensor()};
  }
};

}  // namespace

torch::Tensor checkpointed(const CheckpointedBlock& block, const torch::Tensor& x, const torch::Tensor& emb,
                           const torch::Tensor& context) {
  if (!torch::GradMode::is_enabled()) return block(x, emb, context);
  // Autograd functions take defined tensors only: no context travels as an
  // empty one.
  return CheckpointFunction::apply(&block, x, emb, context.defined() ? context : torch::empty({0}, x.options()));
}

}  // namespace tessera::model
