#include "model/noise_schedule.h"

#include <algorithm>
#include <cmath>
#include <stdexcept>

namespace tessera::model {
namespace {

constexpr double kPi = 3.14159265358979323846;

// torch.linspace on CPU: the first half counts up from start, the second half
// counts down from end, so both endpoints are exact.
std::vector<double> torch_linspace(double start, double end, int n) {
  std::vector<double> out(static_cast<size_t>(n));
  if (n == 1) {
    out[0] = start;
    return out;
  }
  const double step = (end - start) / static_cast<double>(n - 1);
  const int halfway = n / 2;
  for (int i = 0; i < n; ++i) {
    out[static_cast<size_t>(i)] = i < halfway ? start + step * i : end - step * (n - i - 1);
  }
  return out;
}

// numpy.linspace (endpoint=True): i * step + start, with the last value set to stop.
std::vector<double> numpy_linspace(double start, double stop, int n) {
  std::vector<double> out(static_cast<size_t>(n), start);
  if (n < 2) return out;
  const double step = (stop - start) / static_cast<double>(n - 1);
  for (int i = 0; i < n; ++i) out[static_cast<size_t>(i)] = static_cast<double>(i) * step + start;
  out.back() = stop;
  return out;
}

}  // namespace

std::vector<double> make_beta_schedule(const std::string& kind, int n, double linear_start, double linear_end,
                                       double cosine_s) {
  if (n < 1) throw std::invalid_argument("make_beta_schedule: need at least one timestep, got " + std::to_string(n));
  if (kind == "linear") {
    auto betas = torch_linspace(std::sqrt(linear_start), std::sqrt(linear_end), n);
    for (double& b : betas) b = b * b;
    return betas;
  }
  if (kind == "cosine") {
    std::vector<double> a(static_cast<size_t>(n) + 1);
    for (int t = 0; t <= n; ++t) {
      const double x = static_cast<double>(t) / n + cosine_s;
      const double c = std::cos(x / (1 + cosine_s) * kPi / 2);
      a[static_cast<size_t>(t)] = c * c;
    }
    const double first = a[0];
    for (double& v : a) v = v / first;
    std::vector<double> betas(static_cast<size_t>(n));
    for (size_t t = 0; t < betas.size(); ++t) betas[t] = std::clamp(1 - a[t + 1] / a[t], 0.0, 0.999);
    return betas;
  }
  if (kind == "sqrt_linear") return torch_linspace(linear_start, linear_end, n);
  if (kind == "sqrt") {
    auto betas = torch_linspace(linear_start, linear_end, n);
    for (double& b : betas) b = std::pow(b, 0.5);
    return betas;
  }
  throw std::invalid_argument("make_beta_schedule: unknown schedule \"" + kind + "\"");
}

DiffusionSchedule make_diffusion_schedule(const std::vector<double>& betas) {
  if (betas.empty()) throw std::invalid_argument("make_diffusion_schedule: no betas");
  for (const double b : betas) {
    if (!(b >= 0 && b < 1)) throw std::invalid_argument("make_diffusion_schedule: betas must lie in [0, 1)");
  }
  const size_t n = betas.size();
  DiffusionSchedule s;
  s.betas = betas;
  s.alphas_cumprod.resize(n);
  double prod = 1;
  for (size_t t = 0; t < n; ++t) s.alphas_cumprod[t] = prod = prod * (1 - betas[t]);
  s.alphas_cumprod_prev.resize(n);
  s.alphas_cumprod_prev[0] = 1;
  for (size_t t = 1; t < n; ++t) s.alphas_cumprod_prev[t] = s.alphas_cumprod[t - 1];

  auto fill = [n](std::vector<double>& out, auto f) {
    out.resize(n);
    for (size_t t = 0; t < n; ++t) out[t] = f(t);
  };
  const auto& b = s.betas;
  const auto& ac = s.alphas_cumprod;
  const auto& acp = s.alphas_cumprod_prev;
  fill(s.sqrt_alphas_cumprod, [&](size_t t) { return std::sqrt(ac[t]); });
  fill(s.sqrt_one_minus_alphas_cumprod, [&](size_t t) { return std::sqrt(1. - ac[t]); });
  fill(s.log_one_minus_alphas_cumprod, [&](size_t t) { return std::log(1. - ac[t]); });
  fill(s.sqrt_recip_alphas_cumprod, [&](size_t t) { return std::sqrt(1. / ac[t]); });
  fill(s.sqrt_recipm1_alphas_cumprod, [&](size_t t) { return std::sqrt(1. / ac[t] - 1); });
  fill(s.posterior_variance, [&](size_t t) { return b[t] * (1. - acp[t]) / (1. - ac[t]); });
  fill(s.posterior_log_variance_clipped, [&](size_t t) { return std::log(std::max(s.posterior_variance[t], 1e-20)); });
  fill(s.posterior_mean_coef1, [&](size_t t) { return b[t] * std::sqrt(acp[t]) / (1. - ac[t]); });
  fill(s.posterior_mean_coef2, [&](size_t t) { return (1. - acp[t]) * std::sqrt(1. - b[t]) / (1. - ac[t]); });
  if (n >= 2) {
    fill(s.lvlb_weights,
         [&](size_t t) { return b[t] * b[t] / (2 * s.posterior_variance[t] * (1. - b[t]) * (1 - ac[t])); });
    s.lvlb_weights[0] = s.lvlb_weights[1];
  }
  return s;
}

std::vector<int64_t> make_ddim_timesteps(const std::string& method, int n_ddim, int n_train) {
  if (n_ddim < 1 || n_train < 1) {
    throw std::invalid_argument("make_ddim_timesteps: step counts must be positive, got " + std::to_string(n_ddim) +
                                " of " + std::to_string(n_train));
  }
  std::vector<int64_t> steps;
  if (method == "uniform") {
    if (n_ddim > n_train) {
      throw std::invalid_argument("make_ddim_timesteps: " + std::to_string(n_ddim) + " DDIM steps exceed " +
                                  std::to_string(n_train) + " training steps");
    }
    const int c = n_train / n_ddim;
    for (int t = 0; t < n_train; t += c) steps.push_back(t + 1);
  } else if (method == "quad") {
    for (const double x : numpy_linspace(0, std::sqrt(n_train * .8), n_ddim)) {
      steps.push_back(static_cast<int64_t>(x * x) + 1);
    }
  } else {
    throw std::invalid_argument("make_ddim_timesteps: unknown method \"" + method + "\"");
  }
  return steps;
}

DdimParameters make_ddim_sampling_parameters(const std::vector<double>& alphas_cumprod,
                                             const std::vector<int64_t>& ddim_timesteps, double eta) {
  if (ddim_timesteps.empty() || alphas_cumprod.empty()) {
    throw std::invalid_argument("make_ddim_sampling_parameters: empty input");
  }
  for (const int64_t t : ddim_timesteps) {
    if (t < 0 || static_cast<uint64_t>(t) >= alphas_cumprod.size()) {
      throw std::invalid_argument("make_ddim_sampling_parameters: timestep " + std::to_string(t) + " is outside the " +
                                  std::to_string(alphas_cumprod.size()) + "-step schedule");
    }
  }
  DdimParameters p;
  const size_t n = ddim_timesteps.size();
  p.alphas.resize(n);
  p.alphas_prev.resize(n);
  p.sigmas.resize(n);
  for (size_t i = 0; i < n; ++i) {
    p.alphas[i] = alphas_cumprod[static_cast<size_t>(ddim_timesteps[i])];
    p.alphas_prev[i] = i == 0 ? alphas_cumprod[0] : alphas_cumprod[static_cast<size_t>(ddim_timesteps[i - 1])];
    const double a = p.alphas[i];
    const double ap = p.alphas_prev[i];
    p.sigmas[i] = eta * std::sqrt((1 - ap) / (1 - a) * (1 - a / ap));
  }
  return p;
}

}  // namespace tessera::model
