#include "model/trainer.h"

#include <torch/torch.h>

#include <stdexcept>
#include <string>
#include <utility>

#include "model/diffusion_loss.h"
#include "model/unet.h"

namespace tessera::model {
namespace {

void check_options(const TrainerOptions& options) {
  auto fail = [](const std::string& what) { throw std::invalid_argument("trainer: " + what); };
  if (!(options.base_learning_rate >= 0.0)) fail("base_learning_rate must not be negative");
  if (!(options.beta1 >= 0.0 && options.beta1 < 1.0)) fail("beta1 must be in [0, 1)");
  if (!(options.beta2 >= 0.0 && options.beta2 < 1.0)) fail("beta2 must be in [0, 1)");
  if (!(options.eps >= 0.0)) fail("eps must not be negative");
  if (!(options.weight_decay >= 0.0)) fail("weight_decay must not be negative");
  if (options.accumulate < 1) fail("accumulate must be at least 1");
  if (!(options.max_grad_norm >= 0.0)) fail("max_grad_norm must not be negative (0 turns clipping off)");
  if (!(options.ema_decay >= 0.0 && options.ema_decay <= 1.0)) fail("ema_decay must be in [0, 1]");
  if (options.data_parallel_world_size < 1) fail("data_parallel_world_size must be at least 1");
  if (options.data_parallel_rank < 0 || options.data_parallel_rank >= options.data_parallel_world_size) {
    fail("data_parallel_rank must be in [0, world size)");
  }
}

// The global 2-norm over every defined gradient, as clip_grad_norm_ computes it.
double global_grad_norm(const std::vector<torch::Tensor>& parameters) {
  std::vector<torch::Tensor> norms;
  for (const torch::Tensor& parameter : parameters) {
    if (parameter.grad().defined()) norms.push_back(parameter.grad().norm(2.0));
  }
  if (norms.empty()) return 0.0;
  return torch::stack(norms).norm(2.0).item<double>();
}

}  // namespace

LdmTrainer::LdmTrainer(std::shared_ptr<UNet> unet, DiffusionProcess process, TrainerOptions options,
                       LrSchedule schedule)
    : unet_(std::move(unet)),
      process_(std::move(process)),
      options_(options),
      schedule_(std::move(schedule)),
      generator_(make_cpu_generator(options.seed)) {
  if (!unet_) throw std::invalid_argument("trainer: no denoiser");
  if (!schedule_) throw std::invalid_argument("trainer: no learning-rate schedule");
  check_options(options_);
  unet_->train();
  torch::optim::AdamWOptions adamw(options_.base_learning_rate);
  adamw.betas(std::make_tuple(options_.beta1, options_.beta2)).eps(options_.eps).weight_decay(options_.weight_decay);
  optimizer_ = std::make_unique<torch::optim::AdamW>(unet_->parameters(), adamw);
  if (options_.use_ema) ema_ = std::make_unique<Ema>(*unet_, options_.ema_decay);
}

LdmTrainer::~LdmTrainer() = default;

void LdmTrainer::set_step_count(int64_t steps) {
  if (steps < 0) throw std::invalid_argument("trainer: the step count must not be negative");
  step_count_ = steps;
}

double LdmTrainer::step(const std::vector<TrainingBatch>& micro_batches) {
  if (static_cast<int64_t>(micro_batches.size()) != options_.accumulate) {
    throw std::invalid_argument("trainer: step takes " + std::to_string(options_.accumulate) + " micro-batches, got " +
                                std::to_string(micro_batches.size()));
  }
  int64_t samples = 0;
  std::vector<int64_t> sample_shape;
  for (const TrainingBatch& batch : micro_batches) {
    if (!batch.latents.defined() || batch.latents.dim() < 2 || batch.latents.size(0) < 1) {
      throw std::invalid_argument("trainer: every micro-batch needs latents (B, C, ...) with B >= 1");
    }
    const std::vector<int64_t> shape(batch.latents.sizes().begin() + 1, batch.latents.sizes().end());
    if (!sample_shape.empty() && shape != sample_shape) {
      throw std::invalid_argument("trainer: the micro-batches' latents differ in shape");
    }
    sample_shape = shape;
    if (batch.context.defined() && (batch.context.dim() < 1 || batch.context.size(0) != batch.latents.size(0))) {
      throw std::invalid_argument("trainer: a micro-batch's context and latents differ in batch size");
    }
    samples += batch.latents.size(0);
  }
  const double learning_rate = options_.base_learning_rate * schedule_(step_count_);

  // Draw for the global batch so that every data-parallel split (and every
  // split into micro-batches) sees the numbers one process would.
  std::vector<int64_t> global_shape = {samples * options_.data_parallel_world_size};
  global_shape.insert(global_shape.end(), sample_shape.begin(), sample_shape.end());
  const DiffusionDraw draw = draw_diffusion_inputs(generator_, process_.num_timesteps(), global_shape);
  const int64_t first = samples * options_.data_parallel_rank;

  for (torch::Tensor& parameter : unet_->parameters()) parameter.mutable_grad() = torch::Tensor();
  const Denoiser denoiser = [this](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context) {
    return unet_->forward(x, t, context);
  };
  double mean_loss = 0.0;
  int64_t offset = first;
  for (const TrainingBatch& batch : micro_batches) {
    const int64_t size = batch.latents.size(0);
    const double weight = static_cast<double>(size) / static_cast<double>(samples);
    const torch::Tensor loss = diffusion_loss(denoiser, process_, batch.latents, batch.context,
                                              draw.t.narrow(0, offset, size), draw.noise.narrow(0, offset, size));
    (loss * weight).backward();
    mean_loss += loss.item<double>() * weight;
    offset += size;
  }
  if (after_backward_) after_backward_(*unet_);

  last_learning_rate_ = learning_rate;
  const std::vector<torch::Tensor> parameters = unet_->parameters();
  if (options_.max_grad_norm > 0.0) {
    last_grad_norm_ = torch::nn::utils::clip_grad_norm_(parameters, options_.max_grad_norm);
  } else {
    last_grad_norm_ = global_grad_norm(parameters);
  }
  for (auto& group : optimizer_->param_groups()) {
    static_cast<torch::optim::AdamWOptions&>(group.options()).lr(learning_rate);
  }
  optimizer_->step();
  if (ema_) ema_->update(*unet_);
  ++step_count_;
  return mean_loss;
}

}  // namespace tessera::model
