#include "model/diffusion_loss.h"

#include <torch/torch.h>

#include <stdexcept>
#include <vector>

namespace tessera::model {

DiffusionDraw draw_diffusion_inputs(at::Generator& generator, int64_t num_timesteps, at::IntArrayRef shape) {
  if (shape.empty()) throw std::invalid_argument("diffusion loss: the latents need a batch dimension");
  if (generator.device().type() != torch::kCPU) throw std::invalid_argument("diffusion loss: needs a CPU generator");
  DiffusionDraw draw;
  draw.t = torch::randint(0, num_timesteps, {shape[0]}, generator, torch::TensorOptions().dtype(torch::kInt64));
  draw.noise = torch::randn(shape, generator, torch::TensorOptions().dtype(torch::kFloat32));
  return draw;
}

torch::Tensor diffusion_loss(const Denoiser& denoiser, const DiffusionProcess& process, const torch::Tensor& x0,
                             const torch::Tensor& context, const torch::Tensor& t, const torch::Tensor& noise) {
  if (x0.dim() < 2) throw std::invalid_argument("diffusion loss: x0 must be (B, C, ...)");
  if (noise.sizes() != x0.sizes()) throw std::invalid_argument("diffusion loss: noise and x0 differ in shape");
  if (context.defined() && (context.dim() < 1 || context.size(0) != x0.size(0))) {
    throw std::invalid_argument("diffusion loss: context and x0 differ in batch size");
  }
  const torch::Device device = process.device();
  const torch::Tensor x_start = x0.to(device);
  const torch::Tensor timesteps = t.to(device);
  const torch::Tensor eps = noise.to(device);
  const torch::Tensor x_noisy = process.q_sample(x_start, timesteps, eps);
  const torch::Tensor output = denoiser(x_noisy, timesteps, context.defined() ? context.to(device) : context);
  if (output.sizes() != x0.sizes()) throw std::invalid_argument("diffusion loss: the model output is not x0's shape");
  const torch::Tensor target = process.training_target(x_start, timesteps, eps);
  std::vector<int64_t> sample_dims;
  for (int64_t d = 1; d < x0.dim(); ++d) sample_dims.push_back(d);
  // Upstream's order: per-sample means first, then the batch mean.
  return torch::mse_loss(target, output, at::Reduction::None).mean(sample_dims).mean();
}

torch::Tensor diffusion_loss(const Denoiser& denoiser, const DiffusionProcess& process, const torch::Tensor& x0,
                             const torch::Tensor& context, at::Generator& generator) {
  const DiffusionDraw draw = draw_diffusion_inputs(generator, process.num_timesteps(), x0.sizes());
  return diffusion_loss(denoiser, process, x0, context, draw.t, draw.noise);
}

}  // namespace tessera::model
