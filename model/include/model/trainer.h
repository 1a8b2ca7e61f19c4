#pragma once

// The optimisation loop of CompVis latent-diffusion's LatentDiffusion as
// PyTorch Lightning runs it (training_step, configure_optimizers, the EMA of
// on_train_batch_end), for the denoiser alone (first and cond stages frozen:
// the caller passes latents and contexts).
//
// One step(micro_batches):
//   1. t and noise for every sample of the step are drawn from the trainer's
//      CPU generator (draw_diffusion_inputs over the global batch: this rank's
//      samples times the data-parallel world size, this rank's slice taken);
//   2. per micro-batch i of B_i samples (N = sum B_i on this rank), the loss
//      (model/diffusion_loss.h) scaled by B_i / N is back-propagated, so the
//      accumulated gradient is that of the mean loss over the N samples (with
//      equal micro-batches this is Lightning's 1 / accumulate_grad_batches);
//   3. the after-backward hook runs (the data-parallel gradient average);
//   4. gradients are clipped to a global 2-norm (0: off);
//   5. AdamW steps with lr = base_learning_rate * schedule(step);
//   6. the EMA is updated from the new weights.
// Everything but the denoiser's own dropout is deterministic given the seed:
// keep dropout 0 (LDM's configs do) for runs that resume bit-identically.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <memory>
#include <utility>
#include <vector>

#include "model/ema.h"
#include "model/lr_schedule.h"
#include "model/sampler.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn
namespace torch::optim {
class AdamW;
}  // namespace torch::optim

namespace tessera::model {

class UNet;

struct TrainerOptions {
  // The learning rate the schedule multiplies: upstream's model.learning_rate
  // (base_learning_rate, already scaled by the caller when scale_lr is on).
  double base_learning_rate = 1e-4;
  // AdamW, with torch.optim.AdamW's defaults as LDM leaves them.
  double beta1 = 0.9;
  double beta2 = 0.999;
  double eps = 1e-8;
  double weight_decay = 0.01;
  // Micro-batches per optimiser step; step() takes exactly this many.
  int64_t accumulate = 1;
  // Clip the gradients' global 2-norm to this; 0 turns clipping off.
  double max_grad_norm = 0.0;
  bool use_ema = true;
  double ema_decay = 0.9999;
  // Seeds the generator every t and noise is drawn from.
  uint64_t seed = 0;
  // This process's place in data-parallel training. Every rank must pass
  // step() the same number of samples and keep the same seed, so that the
  // ranks draw the same global t and noise and each uses its slice.
  int64_t data_parallel_rank = 0;
  int64_t data_parallel_world_size = 1;
};

// One micro-batch: latents (B, C, H, W) and their contexts (B, L, D), or an
// undefined context for an unconditional denoiser.
struct TrainingBatch {
  torch::Tensor latents;
  torch::Tensor context;
};

class LdmTrainer {
 public:
  // Trains `unet` (already on the process's device, in train mode from here
  // on) with the given process and schedule. Throws std::invalid_argument for
  // options out of range.
  LdmTrainer(std::shared_ptr<UNet> unet, DiffusionProcess process, TrainerOptions options,
             LrSchedule schedule = constant_lr_schedule());
  ~LdmTrainer();
  LdmTrainer(const LdmTrainer&) = delete;
  LdmTrainer& operator=(const LdmTrainer&) = delete;

  // One optimiser step over options().accumulate micro-batches (see above);
  // returns the mean loss over this rank's samples. Throws
  // std::invalid_argument for a wrong number of micro-batches or mismatched
  // shapes, before anything changes.
  double step(const std::vector<TrainingBatch>& micro_batches);

  // Called with the denoiser after the backward passes of a step and before
  // clipping and the optimiser step.
  void set_after_backward(std::function<void(torch::nn::Module&)> hook) { after_backward_ = std::move(hook); }

  UNet& unet() { return *unet_; }
  const UNet& unet() const { return *unet_; }
  const DiffusionProcess& process() const { return process_; }
  const TrainerOptions& options() const { return options_; }
  torch::optim::AdamW& optimizer() { return *optimizer_; }
  const torch::optim::AdamW& optimizer() const { return *optimizer_; }
  // nullptr when options().use_ema is false.
  Ema* ema() { return ema_.get(); }
  const Ema* ema() const { return ema_.get(); }
  at::Generator& generator() { return generator_; }
  const at::Generator& generator() const { return generator_; }

  // Optimiser steps taken so far; the next step uses schedule(step_count()).
  int64_t step_count() const { return step_count_; }
  void set_step_count(int64_t steps);
  // The learning rate of the last step, and the gradients' global 2-norm
  // before clipping.
  double last_learning_rate() const { return last_learning_rate_; }
  double last_grad_norm() const { return last_grad_norm_; }

 private:
  std::shared_ptr<UNet> unet_;
  DiffusionProcess process_;
  TrainerOptions options_;
  LrSchedule schedule_;
  std::unique_ptr<torch::optim::AdamW> optimizer_;
  std::unique_ptr<Ema> ema_;
  at::Generator generator_;
  std::function<void(torch::nn::Module&)> after_backward_;
  int64_t step_count_ = 0;
  double last_learning_rate_ = 0.0;
  double last_grad_norm_ = 0.0;
};

}  // namespace tessera::model
