#pragma once

// Diffusion noise schedules as CompVis latent-diffusion computes them
// (ldm/modules/diffusionmodules/util.py and ldm/models/diffusion/ddpm.py),
// all in double precision. LDM keeps float32 copies of these as model
// buffers; round with static_cast<float> to get those.

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::model {

// LDM's make_beta_schedule. `kind` is
//   "linear":      linspace(sqrt(start), sqrt(end), n)^2
//   "cosine":      betas from alphas_cumprod = cos(((t/n + s)/(1 + s)) * pi/2)^2,
//                  t = 0..n, normalised by its first value; beta_t =
//                  1 - a[t+1]/a[t], clipped to [0, 0.999]
//   "sqrt_linear": linspace(start, end, n)  (LDM's code has no square root here)
//   "sqrt":        linspace(start, end, n)^0.5
// linspace is torch.linspace's float64 formula. Throws std::invalid_argument
// for an unknown kind or n < 1.
std::vector<double> make_beta_schedule(const std::string& kind, int n, double linear_start = 1e-4,
                                       double linear_end = 2e-2, double cosine_s = 8e-3);

// The quantities DDPM.register_schedule derives from betas (v_posterior = 0).
struct DiffusionSchedule {
  std::vector<double> betas;
  std::vector<double> alphas_cumprod;
  std::vector<double> alphas_cumprod_prev;  // [1, alphas_cumprod[:-1]]
  std::vector<double> sqrt_alphas_cumprod;
  std::vector<double> sqrt_one_minus_alphas_cumprod;
  std::vector<double> log_one_minus_alphas_cumprod;
  std::vector<double> sqrt_recip_alphas_cumprod;
  std::vector<double> sqrt_recipm1_alphas_cumprod;
  std::vector<double> posterior_variance;
  std::vector<double> posterior_log_variance_clipped;  // log(max(posterior_variance, 1e-20))
  std::vector<double> posterior_mean_coef1;
  std::vector<double> posterior_mean_coef2;
  // The "eps" parameterisation's VLB weights, with [0] set to [1] as LDM does
  // (empty when there are fewer than two steps).
  std::vector<double> lvlb_weights;

  size_t size() const { return betas.size(); }
};

// Throws std::invalid_argument unless every beta is in [0, 1) and betas is non-empty.
DiffusionSchedule make_diffusion_schedule(const std::vector<double>& betas);

// LDM's make_ddim_timesteps: "uniform" takes range(0, n_train, n_train / n_ddim)
// (integer division, so it can give more than n_ddim steps); "quad" takes
// int(linspace(0, sqrt(0.8 n_train), n_ddim)^2) with numpy's linspace; both
// then add 1. Throws std::invalid_argument for an unknown method, n_ddim < 1,
// or (uniform) n_ddim > n_train.
std::vector<int64_t> make_ddim_timesteps(const std::string& method, int n_ddim, int n_train);

struct DdimParameters {
  std::vector<double> alphas;       // alphas_cumprod[t]
  std::vector<double> alphas_prev;  // [alphas_cumprod[0], alphas_cumprod[t[:-1]]...]
  std::vector<double> sigmas;       // eta * sqrt((1 - a_prev)/(1 - a) * (1 - a/a_prev))
};

// LDM's make_ddim_sampling_parameters. The previous alpha of the first step is
// alphas_cumprod[0], not 1. LDM's DDIMSampler passes the model's float32
// alphas_cumprod buffer; pass those values to match it exactly. Throws
// std::invalid_argument for an empty or out-of-range timestep list.
DdimParameters make_ddim_sampling_parameters(const std::vector<double>& alphas_cumprod,
                                             const std::vector<int64_t>& ddim_timesteps, double eta);

}  // namespace tessera::model
