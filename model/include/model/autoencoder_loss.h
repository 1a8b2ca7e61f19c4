#pragma once

// The generator-side training loss of CompVis latent-diffusion's first
// stages, without the adversarial term:
//
// VQ (taming's VQModel with VQLPIPSWithDiscriminator, disc_factor 0):
//   h = quant_conv(encoder(x)), e = the nearest codebook rows of h,
//   x̂ = decoder(post_quant_conv(h + sg[e - h]))          straight-through
//   codebook = mean((sg[e] - h)^2) + beta * mean((e - sg[h])^2)    legacy
//              beta * mean((sg[e] - h)^2) + mean((e - sg[h])^2)    legacy = false
//   loss = mean(|x - x̂| + w_p * lpips(x, x̂)) + codebook_weight * codebook
// taming's VectorQuantizer2 defaults to legacy = true, its original
// weighting, and LDM's VQModel keeps that default.
//
// KL (AutoencoderKL with LPIPSWithDiscriminator, logvar 0, disc_factor 0):
//   posterior = N(mean, exp(logvar)) from quant_conv(encoder(x)),
//   x̂ = decoder(post_quant_conv(mean + std * noise))      sample_posterior
//   kl = 0.5 * sum_{c,h,w}(mean^2 + var - 1 - logvar)        per sample (upstream's kl())
//   loss = sum(|x - x̂| + w_p * lpips(x, x̂)) / B + kl_weight * sum(kl) / B
// Upstream sums the KL model's reconstruction term over pixels (and the
// VQ model's averages it); kl_weight 1e-6 is balanced against that sum.
//
// lpips(x, x̂) is per sample (model/lpips.h), broadcast over the pixels as
// upstream adds it to |x - x̂|.

#include <ATen/core/Generator.h>
#include <torch/types.h>

namespace tessera::model {

class Autoencoder;
class Lpips;
struct DiagonalGaussian;

struct AutoencoderLossOptions {
  double codebook_weight = 1.0;    // VQ: weight of the codebook / commitment term
  double beta = 0.25;              // VQ: VectorQuantizer2's beta
  bool legacy = true;              // VQ: VectorQuantizer2's legacy weighting (its default)
  double kl_weight = 1e-6;         // KL: LPIPSWithDiscriminator's default
  double perceptual_weight = 1.0;  // used when a perceptual network is given
};

struct AutoencoderLoss {
  torch::Tensor total;           // scalar with gradients: what the optimiser minimises
  torch::Tensor rec;             // mean |x - x̂| over every element (detached)
  torch::Tensor regulariser;     // VQ: the codebook term; KL: sum(kl) / B (detached, unweighted)
  torch::Tensor perceptual;      // mean lpips(x, x̂) over the batch (detached); 0 without a network
  torch::Tensor reconstruction;  // x̂ (detached)
};

// The codebook / commitment term for the pre-quantisation latent h and its
// codebook rows e (same shape; e carries gradients to the codebook).
torch::Tensor vq_codebook_loss(const torch::Tensor& h, const torch::Tensor& e, double beta, bool legacy);

// 0.5 * sum over all but the batch dimension of (mean^2 + var - 1 - logvar),
// one value per sample, as upstream's DiagonalGaussianDistribution.kl().
torch::Tensor kl_divergence(const DiagonalGaussian& posterior);

// One forward pass of `model` (in train mode, on x's device) on images x in
// [-1, 1] (B, 3, H, W), and its loss. `perceptual` may be null (the
// perceptual term is then 0). For KL the posterior noise is drawn on the CPU
// from `generator` (a CPU generator), shaped like the posterior mean, then
// moved to x's device; VQ draws nothing.
AutoencoderLoss autoencoder_loss(Autoencoder& model, const torch::Tensor& x, Lpips* perceptual,
                                 const AutoencoderLossOptions& options, at::Generator& generator);

}  // namespace tessera::model
