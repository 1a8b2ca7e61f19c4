#include "model/sampler.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/torch.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace tessera::model {
namespace {

// LDM's to_torch: float64 values -> float32 tensor.
torch::Tensor to_buffer(const std::vector<double>& values, torch::Device device) {
  std::vector<float> rounded(values.begin(), values.end());
  return torch::from_blob(rounded.data(), {static_cast<int64_t>(rounded.size())}, torch::kFloat32).clone().to(device);
}

// A (B) int64 tensor of `timestep` on `device`.
torch::Tensor full_timesteps(int64_t batch, int64_t timestep, torch::Device device) {
  return torch::full({batch}, timestep, torch::TensorOptions().dtype(torch::kInt64).device(device));
}

// N(0, I) of `shape`, drawn on the generator's device and moved to `device`.
torch::Tensor draw_noise(at::IntArrayRef shape, at::Generator& generator, torch::Device device) {
  const torch::TensorOptions options = torch::TensorOptions().dtype(torch::kFloat32).device(generator.device());
  return torch::randn(shape, generator, options).to(device);
}

torch::Tensor initial_sample(at::IntArrayRef shape, at::Generator& generator, const torch::Tensor& x_T,
                             torch::Device device) {
  if (shape.empty()) throw std::invalid_argument("sampler: shape must have a batch dimension");
  if (!x_T.defined()) return draw_noise(shape, generator, device);
  if (x_T.sizes() != shape) throw std::invalid_argument("sampler: x_T does not have the requested shape");
  return x_T.to(device, torch::kFloat32);
}

}  // namespace

at::Generator make_cpu_generator(uint64_t seed) { return at::detail::createCPUGenerator(seed); }

DiffusionProcess::DiffusionProcess(const DiffusionSchedule& schedule, Parameterization parameterization,
                                   torch::Device device)
    : parameterization_(parameterization), device_(device) {
  if (schedule.size() == 0) throw std::invalid_argument("diffusion process: empty schedule");
  for (double value : schedule.alphas_cumprod) {
    alphas_cumprod_values_.push_back(static_cast<double>(static_cast<float>(value)));
  }
  betas_ = to_buffer(schedule.betas, device);
  alphas_cumprod_ = to_buffer(schedule.alphas_cumprod, device);
  alphas_cumprod_prev_ = to_buffer(schedule.alphas_cumprod_prev, device);
  sqrt_alphas_cumprod_ = to_buffer(schedule.sqrt_alphas_cumprod, device);
  sqrt_one_minus_alphas_cumprod_ = to_buffer(schedule.sqrt_one_minus_alphas_cumprod, device);
  log_one_minus_alphas_cumprod_ = to_buffer(schedule.log_one_minus_alphas_cumprod, device);
  sqrt_recip_alphas_cumprod_ = to_buffer(schedule.sqrt_recip_alphas_cumprod, device);
  sqrt_recipm1_alphas_cumprod_ = to_buffer(schedule.sqrt_recipm1_alphas_cumprod, device);
  posterior_variance_ = to_buffer(schedule.posterior_variance, device);
  posterior_log_variance_clipped_ = to_buffer(schedule.posterior_log_variance_clipped, device);
  posterior_mean_coef1_ = to_buffer(schedule.posterior_mean_coef1, device);
  posterior_mean_coef2_ = to_buffer(schedule.posterior_mean_coef2, device);
}

torch::Tensor DiffusionProcess::extract(const torch::Tensor& buffer, const torch::Tensor& t,
                                        const torch::Tensor& like) const {
  if (t.dim() != 1 || like.dim() < 1 || t.size(0) != like.size(0)) {
    throw std::invalid_argument("diffusion process: timesteps must have shape (B) matching the batch");
  }
  if (t.is_floating_point() || t.is_complex()) {
    throw std::invalid_argument("diffusion process: timesteps must have an integer dtype");
  }
  const torch::Tensor index = t.to(buffer.device(), torch::kInt64);
  if (index.numel() > 0) {
    const int64_t lowest = index.min().item<int64_t>();
    const int64_t highest = index.max().item<int64_t>();
    if (lowest < 0 || highest >= buffer.size(0)) {
      throw std::invalid_argument("diffusion process: timestep out of range [0, " + std::to_string(buffer.size(0)) +
                                  ")");
    }
  }
  std::vector<int64_t> shape(static_cast<size_t>(like.dim()), 1);
  shape[0] = t.size(0);
  return buffer.index_select(0, index).reshape(shape);
}

torch::Tensor DiffusionProcess::q_sample(const torch::Tensor& x0, const torch::Tensor& t,
                                         const torch::Tensor& noise) const {
  return extract(sqrt_alphas_cumprod_, t, x0) * x0 + extract(sqrt_one_minus_alphas_cumprod_, t, x0) * noise;
}

torch::Tensor DiffusionProcess::training_target(const torch::Tensor& x0, const torch::Tensor& t,
                                                const torch::Tensor& noise) const {
  if (parameterization_ == Parameterization::kEps) return noise;
  return extract(sqrt_alphas_cumprod_, t, x0) * noise - extract(sqrt_one_minus_alphas_cumprod_, t, x0) * x0;
}

DenoisedPrediction DiffusionProcess::predict_x0_and_eps(const torch::Tensor& model_output, const torch::Tensor& x_t,
                                                        const torch::Tensor& t) const {
  if (model_output.sizes() != x_t.sizes()) {
    throw std::invalid_argument("diffusion process: model output and x_t differ in shape");
  }
  DenoisedPrediction prediction;
  if (parameterization_ == Parameterization::kEps) {
    prediction.eps = model_output;
    prediction.x0 = extract(sqrt_recip_alphas_cumprod_, t, x_t) * x_t -
                    extract(sqrt_recipm1_alphas_cumprod_, t, x_t) * model_output;
  } else {
    const torch::Tensor sqrt_a = extract(sqrt_alphas_cumprod_, t, x_t);
    const torch::Tensor sqrt_one_minus_a = extract(sqrt_one_minus_alphas_cumprod_, t, x_t);
    prediction.x0 = sqrt_a * x_t - sqrt_one_minus_a * model_output;
    prediction.eps = sqrt_one_minus_a * x_t + sqrt_a * model_output;
  }
  return prediction;
}

torch::Tensor guided_model_output(const Denoiser& denoiser, const torch::Tensor& x, const torch::Tensor& t,
                                  const torch::Tensor& cond, const torch::Tensor& uncond, double guidance_scale) {
  if (!uncond.defined() || guidance_scale == 1.0) return denoiser(x, t, cond);
  if (!cond.defined()) throw std::invalid_argument("classifier-free guidance needs a conditioning context");
  const torch::Tensor both = denoiser(torch::cat({x, x}), torch::cat({t, t}), torch::cat({uncond, cond}));
  const std::vector<torch::Tensor> halves = both.chunk(2, 0);
  return halves[0] + guidance_scale * (halves[1] - halves[0]);
}

DdimSampler::DdimSampler(const DiffusionProcess& process, int n_steps, double eta, double guidance_scale,
                         const std::string& discretize)
    : process_(process), eta_(eta), guidance_scale_(guidance_scale) {
  if (!(eta >= 0.0)) throw std::invalid_argument("ddim: eta must be non-negative");
  timesteps_ = make_ddim_timesteps(discretize, n_steps, static_cast<int>(process.num_timesteps()));
  const DdimParameters parameters = make_ddim_sampling_parameters(process.alphas_cumprod_values(), timesteps_, eta);
  std::vector<double> sqrt_one_minus_alphas;
  for (size_t i = 0; i < parameters.alphas.size(); ++i) {
    const double sigma = static_cast<float>(parameters.sigmas[i]);
    if (1.0 - parameters.alphas_prev[i] - sigma * sigma < 0.0) {
      throw std::invalid_argument("ddim: eta " + std::to_string(eta) + " makes 1 - a_prev - sigma^2 negative");
    }
    sqrt_one_minus_alphas.push_back(std::sqrt(1.0 - parameters.alphas[i]));
  }
  sigmas_ = parameters.sigmas;
  ddim_alphas_ = to_buffer(parameters.alphas, process.device());
  ddim_alphas_prev_ = to_buffer(parameters.alphas_prev, process.device());
  ddim_sigmas_ = to_buffer(parameters.sigmas, process.device());
  ddim_sqrt_one_minus_alphas_ = to_buffer(sqrt_one_minus_alphas, process.device());
}

torch::Tensor DdimSampler::sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                                  const torch::Tensor& uncond, at::Generator generator, const SamplerCallback& callback,
                                  const torch::Tensor& x_T) const {
  const torch::Device device = process_.device();
  torch::Tensor x = initial_sample(shape, generator, x_T, device);
  const int64_t batch = x.size(0);
  const int64_t total = num_steps();
  std::vector<int64_t> unit_shape(static_cast<size_t>(x.dim()), 1);
  for (int64_t step = 0; step < total; ++step) {
    const int64_t i = total - 1 - step;
    const int64_t timestep = timesteps_[static_cast<size_t>(i)];
    const torch::Tensor t = full_timesteps(batch, timestep, device);
    const torch::Tensor output = guided_model_output(denoiser, x, t, cond, uncond, guidance_scale_);
    // Scalars as (1, ..., 1) float32 tensors, so the arithmetic stays in
    // float32 as upstream's full((b, 1, 1, 1), value) tensors keep it.
    const torch::Tensor a_t = ddim_alphas_[i].reshape(unit_shape);
    const torch::Tensor a_prev = ddim_alphas_prev_[i].reshape(unit_shape);
    const torch::Tensor sigma = ddim_sigmas_[i].reshape(unit_shape);
    const torch::Tensor sqrt_one_minus_at = ddim_sqrt_one_minus_alphas_[i].reshape(unit_shape);

    torch::Tensor e_t = output;
    torch::Tensor pred_x0;
    if (process_.parameterization() == Parameterization::kV) {
      const DenoisedPrediction prediction = process_.predict_x0_and_eps(output, x, t);
      e_t = prediction.eps;
      pred_x0 = prediction.x0;
    } else {
      pred_x0 = (x - sqrt_one_minus_at * e_t) / a_t.sqrt();
    }
    const torch::Tensor dir_xt = (1.0 - a_prev - sigma * sigma).sqrt() * e_t;
    x = a_prev.sqrt() * pred_x0 + dir_xt;
    if (sigmas_[static_cast<size_t>(i)] > 0.0) x = x + sigma * draw_noise(x.sizes(), generator, device);
    if (callback) callback(SamplerStep{step, total, timestep, x, pred_x0});
  }
  return x;
}

torch::Tensor DdimSampler::sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                                  const torch::Tensor& uncond, uint64_t seed, const SamplerCallback& callback,
                                  const torch::Tensor& x_T) const {
  return sample(denoiser, shape, cond, uncond, make_cpu_generator(seed), callback, x_T);
}

DdpmSampler::DdpmSampler(const DiffusionProcess& process, double guidance_scale, bool clip_denoised)
    : process_(process), guidance_scale_(guidance_scale), clip_denoised_(clip_denoised) {}

torch::Tensor DdpmSampler::sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                                  const torch::Tensor& uncond, at::Generator generator, const SamplerCallback& callback,
                                  const torch::Tensor& x_T) const {
  const torch::Device device = process_.device();
  torch::Tensor x = initial_sample(shape, generator, x_T, device);
  const int64_t batch = x.size(0);
  const int64_t total = num_steps();
  for (int64_t step = 0; step < total; ++step) {
    const int64_t timestep = total - 1 - step;
    const torch::Tensor t = full_timesteps(batch, timestep, device);
    const torch::Tensor output = guided_model_output(denoiser, x, t, cond, uncond, guidance_scale_);
    torch::Tensor x0 = process_.predict_x0_and_eps(output, x, t).x0;
    if (clip_denoised_) x0 = x0.clamp(-1.0, 1.0);
    const torch::Tensor mean = process_.extract(process_.posterior_mean_coef1(), t, x) * x0 +
                               process_.extract(process_.posterior_mean_coef2(), t, x) * x;
    if (timestep > 0) {
      const torch::Tensor log_variance = process_.extract(process_.posterior_log_variance_clipped(), t, x);
      x = mean + (0.5 * log_variance).exp() * draw_noise(x.sizes(), generator, device);
    } else {
      x = mean;
    }
    if (callback) callback(SamplerStep{step, total, timestep, x, x0});
  }
  return x;
}

torch::Tensor DdpmSampler::sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                                  const torch::Tensor& uncond, uint64_t seed, const SamplerCallback& callback,
                                  const torch::Tensor& x_T) const {
  return sample(denoiser, shape, cond, uncond, make_cpu_generator(seed), callback, x_T);
}

}  // namespace tessera::model
