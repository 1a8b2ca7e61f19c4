#pragma once

// The diffusion process and samplers of CompVis latent-diffusion
// (ldm/models/diffusion/ddpm.py: DDPM.register_schedule, q_sample,
// predict_start_from_noise, q_posterior, p_sample; ldm/models/diffusion/ddim.py:
// DDIMSampler.make_schedule and p_sample_ddim), reimplemented on LibTorch.
//
// Conventions:
// - Timesteps are integer indices 0..T-1 into the schedule, as upstream.
// - The schedule's quantities are float32 buffers on the process's device,
//   rounded from the float64 values of model/noise_schedule.h exactly as LDM's
//   to_torch registers them; per-sample coefficients are gathered from them
//   (upstream's extract_into_tensor) and broadcast over the other dimensions.
// - Samplers draw every random number from the at::Generator they are given,
//   on that generator's device (a CPU generator for the seed overloads), and
//   move the noise to the process's device: the same seed gives the same
//   noise on any device.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>
#include <functional>
#include <string>
#include <vector>

#include "model/noise_schedule.h"

namespace tessera::model {

// What the denoiser predicts: the noise ε ("eps"), or v = sqrt(ā_t) ε - sqrt(1 - ā_t) x0 ("v").
enum class Parameterization { kEps, kV };

// The denoising network as the samplers call it: (x_t (B, C, ...), t (B) int64,
// context (B, ...) or undefined) -> model output shaped like x_t. A UNet is
// wrapped as [&](auto& x, auto& t, auto& c) { return unet.forward(x, t, c); }.
using Denoiser =
    std::function<torch::Tensor(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& context)>;

// A CPU generator seeded with `seed`; at::detail::createCPUGenerator, whose
// signature is the same in LibTorch 1.13 and 2.x.
at::Generator make_cpu_generator(uint64_t seed);

struct DenoisedPrediction {
  torch::Tensor x0;
  torch::Tensor eps;
};

class DiffusionProcess {
 public:
  // Throws std::invalid_argument for an empty schedule.
  explicit DiffusionProcess(const DiffusionSchedule& schedule,
                            Parameterization parameterization = Parameterization::kEps,
                            torch::Device device = torch::kCPU);

  int64_t num_timesteps() const { return static_cast<int64_t>(alphas_cumprod_values_.size()); }
  Parameterization parameterization() const { return parameterization_; }
  torch::Device device() const { return device_; }
  // alphas_cumprod rounded to float32 and widened back, as DDIMSampler reads them.
  const std::vector<double>& alphas_cumprod_values() const { return alphas_cumprod_values_; }

  // The float32 buffers, each of shape (T), under LDM's names.
  const torch::Tensor& betas() const { return betas_; }
  const torch::Tensor& alphas_cumprod() const { return alphas_cumprod_; }
  const torch::Tensor& alphas_cumprod_prev() const { return alphas_cumprod_prev_; }
  const torch::Tensor& sqrt_alphas_cumprod() const { return sqrt_alphas_cumprod_; }
  const torch::Tensor& sqrt_one_minus_alphas_cumprod() const { return sqrt_one_minus_alphas_cumprod_; }
  const torch::Tensor& log_one_minus_alphas_cumprod() const { return log_one_minus_alphas_cumprod_; }
  const torch::Tensor& sqrt_recip_alphas_cumprod() const { return sqrt_recip_alphas_cumprod_; }
  const torch::Tensor& sqrt_recipm1_alphas_cumprod() const { return sqrt_recipm1_alphas_cumprod_; }
  const torch::Tensor& posterior_variance() const { return posterior_variance_; }
  const torch::Tensor& posterior_log_variance_clipped() const { return posterior_log_variance_clipped_; }
  const torch::Tensor& posterior_mean_coef1() const { return posterior_mean_coef1_; }
  const torch::Tensor& posterior_mean_coef2() const { return posterior_mean_coef2_; }

  // buffer[t] reshaped to (B, 1, ..., 1) with `like`'s rank, on the buffer's
  // device; t (B) of an integer dtype. Throws std::invalid_argument when t is
  // not one-dimensional, its length is not like.size(0), or an entry is out of
  // range.
  torch::Tensor extract(const torch::Tensor& buffer, const torch::Tensor& t, const torch::Tensor& like) const;

  // x_t = sqrt(ā_t) x0 + sqrt(1 - ā_t) noise.
  torch::Tensor q_sample(const torch::Tensor& x0, const torch::Tensor& t, const torch::Tensor& noise) const;
  // The regression target of the parameterisation: noise (ε), or
  // sqrt(ā_t) noise - sqrt(1 - ā_t) x0 (v).
  torch::Tensor training_target(const torch::Tensor& x0, const torch::Tensor& t, const torch::Tensor& noise) const;
  // x0 and ε from the model's output at x_t. ε: x0 = sqrt(1/ā_t) x_t -
  // sqrt(1/ā_t - 1) ε (predict_start_from_noise). v: x0 = sqrt(ā_t) x_t -
  // sqrt(1 - ā_t) v and ε = sqrt(1 - ā_t) x_t + sqrt(ā_t) v.
  DenoisedPrediction predict_x0_and_eps(const torch::Tensor& model_output, const torch::Tensor& x_t,
                                        const torch::Tensor& t) const;

 private:
  Parameterization parameterization_;
  torch::Device device_;
  std::vector<double> alphas_cumprod_values_;
  torch::Tensor betas_, alphas_cumprod_, alphas_cumprod_prev_, sqrt_alphas_cumprod_, sqrt_one_minus_alphas_cumprod_,
      log_one_minus_alphas_cumprod_, sqrt_recip_alphas_cumprod_, sqrt_recipm1_alphas_cumprod_, posterior_variance_,
      posterior_log_variance_clipped_, posterior_mean_coef1_, posterior_mean_coef2_;
};

// One sampler step as the progress callback sees it.
struct SamplerStep {
  int64_t index = 0;      // 0 for the first (noisiest) step
  int64_t total = 0;      // number of steps
  int64_t timestep = 0;   // the schedule index the denoiser was called with
  torch::Tensor x;        // the sample after this step
  torch::Tensor pred_x0;  // the denoised estimate of this step
};
using SamplerCallback = std::function<void(const SamplerStep&)>;

// Classifier-free guidance shared by both samplers: with `uncond` defined and
// scale != 1 the denoiser runs once on cat[x, x], cat[t, t],
// cat[uncond, cond] and e = e_uncond + scale (e_cond - e_uncond); otherwise it
// runs once on (x, t, cond). Throws std::invalid_argument when guidance needs
// a `cond` that is undefined.
torch::Tensor guided_model_output(const Denoiser& denoiser, const torch::Tensor& x, const torch::Tensor& t,
                                  const torch::Tensor& cond, const torch::Tensor& uncond, double guidance_scale);

// DDIM (Song et al.) as LDM's DDIMSampler: timesteps from make_ddim_timesteps,
// visited in reverse; per step i with a_t = ddim_alphas[i], a_prev =
// ddim_alphas_prev[i], σ = ddim_sigmas[i]: pred_x0 = (x - sqrt(1 - a_t) e) /
// sqrt(a_t), x_prev = sqrt(a_prev) pred_x0 + sqrt(1 - a_prev - σ²) e + σ noise,
// where e is ε (for v-models derived from v, and pred_x0 taken from v, as
// Stable Diffusion 2's DDIMSampler does). The returned sample is the last
// x_prev; its a_prev is alphas_cumprod[0], so it is the last pred_x0 noised
// to t = 0, as upstream returns it. Noise is drawn only for steps with σ > 0.
class DdimSampler {
 public:
  // Throws std::invalid_argument for n_steps < 1 or > T (uniform), an eta
  // that is negative or so large that 1 - a_prev - σ² < 0 at some step, or an
  // unknown discretisation ("uniform" or "quad").
  DdimSampler(const DiffusionProcess& process, int n_steps, double eta = 0.0, double guidance_scale = 1.0,
              const std::string& discretize = "uniform");

  const std::vector<int64_t>& timesteps() const { return timesteps_; }  // ascending
  int64_t num_steps() const { return static_cast<int64_t>(timesteps_.size()); }
  double eta() const { return eta_; }
  double guidance_scale() const { return guidance_scale_; }
  // float32 buffers (num_steps) on the process's device, as DDIMSampler registers them.
  const torch::Tensor& ddim_alphas() const { return ddim_alphas_; }
  const torch::Tensor& ddim_alphas_prev() const { return ddim_alphas_prev_; }
  const torch::Tensor& ddim_sigmas() const { return ddim_sigmas_; }
  const torch::Tensor& ddim_sqrt_one_minus_alphas() const { return ddim_sqrt_one_minus_alphas_; }

  // Samples `shape` (B, C, ...) starting from x_T ~ N(0, I) drawn from
  // `generator` (or from `x_T` when it is defined; it must have `shape`).
  // cond / uncond are the contexts (B, ...) or undefined. The denoiser is
  // called exactly num_steps() times. `callback`, when set, runs after each step.
  torch::Tensor sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                       const torch::Tensor& uncond, at::Generator generator, const SamplerCallback& callback = {},
                       const torch::Tensor& x_T = {}) const;
  // As above with make_cpu_generator(seed).
  torch::Tensor sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                       const torch::Tensor& uncond, uint64_t seed, const SamplerCallback& callback = {},
                       const torch::Tensor& x_T = {}) const;

 private:
  DiffusionProcess process_;  // a copy: the buffers are shared, not duplicated
  double eta_;
  double guidance_scale_;
  std::vector<int64_t> timesteps_;
  std::vector<double> sigmas_;
  torch::Tensor ddim_alphas_, ddim_alphas_prev_, ddim_sigmas_, ddim_sqrt_one_minus_alphas_;
};

// Ancestral DDPM sampling (LDM's p_sample_loop) over every timestep T-1..0:
// x0 from the model output (clamped to [-1, 1] when clip_denoised), mean =
// posterior_mean_coef1[t] x0 + posterior_mean_coef2[t] x_t, x_{t-1} = mean +
// exp(0.5 posterior_log_variance_clipped[t]) noise, without noise at t = 0.
// clip_denoised defaults to false: diffusion here runs on scaled latents,
// which are not confined to [-1, 1] (LatentDiffusion.p_sample's default);
// pass true for pixel-space models.
class DdpmSampler {
 public:
  explicit DdpmSampler(const DiffusionProcess& process, double guidance_scale = 1.0, bool clip_denoised = false);

  int64_t num_steps() const { return process_.num_timesteps(); }
  double guidance_scale() const { return guidance_scale_; }
  bool clip_denoised() const { return clip_denoised_; }

  // As DdimSampler::sample; the denoiser is called exactly num_steps() times.
  torch::Tensor sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                       const torch::Tensor& uncond, at::Generator generator, const SamplerCallback& callback = {},
                       const torch::Tensor& x_T = {}) const;
  torch::Tensor sample(const Denoiser& denoiser, at::IntArrayRef shape, const torch::Tensor& cond,
                       const torch::Tensor& uncond, uint64_t seed, const SamplerCallback& callback = {},
                       const torch::Tensor& x_T = {}) const;

 private:
  DiffusionProcess process_;  // a copy: the buffers are shared, not duplicated
  double guidance_scale_;
  bool clip_denoised_;
};

}  // namespace tessera::model
