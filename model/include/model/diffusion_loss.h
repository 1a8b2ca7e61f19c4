#pragma once

// One evaluation of the training loss of CompVis latent-diffusion
// (ldm/models/diffusion/ddpm.py: LatentDiffusion.forward and p_losses) with
// loss_type "l2", l_simple_weight 1, original_elbo_weight 0 and a fixed,
// zero logvar (learn_logvar false), which reduce it to
//   t ~ randint(0, T), noise ~ N(0, I), x_t = q_sample(x0, t, noise),
//   loss = mean over the batch of mean over (C, H, W) of (model(x_t, t, c) - target)^2
// with target = DiffusionProcess::training_target (noise for "eps", v for "v").
//
// Randomness: t for the whole batch is drawn first, then the noise, both on
// the CPU from the generator given, and then moved to the process's device,
// so CPU and GPU runs see the same numbers.

#include <ATen/core/Generator.h>
#include <torch/types.h>

#include <cstdint>

#include "model/sampler.h"

namespace tessera::model {

// The random inputs of one loss evaluation, on the CPU.
struct DiffusionDraw {
  torch::Tensor t;      // (B) int64 in [0, num_timesteps)
  torch::Tensor noise;  // float32 of the latents' shape
};

// Draws t (shape[0] of them) and then the noise (`shape`) from `generator`,
// which must be a CPU generator.
DiffusionDraw draw_diffusion_inputs(at::Generator& generator, int64_t num_timesteps, at::IntArrayRef shape);

// The loss for given t and noise: x0 (B, C, ...) latents, context (B, ...) or
// undefined, t (B) and noise shaped like x0 on any device (moved to the
// process's device). Returns a float32 scalar that carries gradients to the
// denoiser's parameters. Throws std::invalid_argument for mismatched shapes.
torch::Tensor diffusion_loss(const Denoiser& denoiser, const DiffusionProcess& process, const torch::Tensor& x0,
                             const torch::Tensor& context, const torch::Tensor& t, const torch::Tensor& noise);

// As above with t and noise drawn by draw_diffusion_inputs.
torch::Tensor diffusion_loss(const Denoiser& denoiser, const DiffusionProcess& process, const torch::Tensor& x0,
                             const torch::Tensor& context, at::Generator& generator);

}  // namespace tessera::model
