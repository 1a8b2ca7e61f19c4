#pragma once

// The first-stage autoencoders of CompVis latent-diffusion
// (ldm/models/autoencoder.py: VQModelInterface and AutoencoderKL, built from
// ldm/modules/diffusionmodules/model.py's Encoder and Decoder and taming's
// VectorQuantizer2), reimplemented as torch::nn modules. Every submodule is
// registered under upstream's attribute name, so the parameter names are an
// LDM checkpoint's keys without the "first_stage_model." prefix; load them
// with load_weights (model/state_dict_loader.h).
//
// Tensors are NCHW. The modules hold weights and run forward passes only:
// call eval() (dropout) and hold a torch::NoGradGuard for inference.

#include <torch/nn/module.h>

#include <memory>

#include "model/autoencoder_config.h"

namespace torch::nn {
class Conv2dImpl;
}  // namespace torch::nn

namespace tessera::model {

class VaeEncoder;
class VaeDecoder;
class VectorQuantizer;

// A VQ latent snapped to the codebook.
struct QuantizedLatent {
  torch::Tensor quantized;  // (B, embed_dim, H, W), straight-through h + (e - h)
  torch::Tensor indices;    // (B, H, W) int64 codebook rows
};

// AutoencoderKL's posterior, from moments = cat[mean, logvar] along channels.
struct DiagonalGaussian {
  torch::Tensor mean;
  torch::Tensor logvar;  // clamped to [-30, 20]
  torch::Tensor std;     // exp(0.5 * logvar)

  static DiagonalGaussian from_moments(const torch::Tensor& moments);
  const torch::Tensor& mode() const { return mean; }
  // mean + std * noise, with `noise` ~ N(0, 1) shaped like mean.
  torch::Tensor sample(const torch::Tensor& noise) const;
};

class Autoencoder : public torch::nn::Module {
 public:
  // Validates `config` (ConfigError) and builds float32 modules with
  // LibTorch's default initialisation; load weights before use.
  explicit Autoencoder(AutoencoderConfig config);
  ~Autoencoder() override;

  const AutoencoderConfig& config() const { return config_; }

  // encoder(x): (B, in_channels, R, R) -> (B, z_channels or 2*z_channels, R/f, R/f).
  torch::Tensor run_encoder(const torch::Tensor& x);
  // quant_conv(encoder(x)): the pre-quantisation latent h for VQ (the latent
  // LDM trains on), the posterior moments for KL.
  torch::Tensor encode_moments(const torch::Tensor& x);
  // VQ: h, as encode_moments. KL: the posterior mean (its mode).
  torch::Tensor encode(const torch::Tensor& x);
  // KL only (std::logic_error for VQ).
  DiagonalGaussian encode_posterior(const torch::Tensor& x);

  // VQ only (std::logic_error for KL): nearest codebook row by squared L2.
  QuantizedLatent quantize(const torch::Tensor& h);
  // VQ only: codebook rows for (B, H, W) indices, as (B, embed_dim, H, W).
  torch::Tensor codebook_lookup(const torch::Tensor& indices);

  // VQ: decoder(post_quant_conv(quantize(z).quantized)), as VQModelInterface
  // decodes a latent. KL: decoder(post_quant_conv(z)).
  torch::Tensor decode(const torch::Tensor& z);
  // decoder(post_quant_conv(z)) without quantisation, for either kind.
  torch::Tensor decode_unquantized(const torch::Tensor& z);

 private:
  void require_vq(const char* what) const;

  AutoencoderConfig config_;
  std::shared_ptr<VaeEncoder> encoder_;
  std::shared_ptr<VaeDecoder> decoder_;
  std::shared_ptr<VectorQuantizer> quantize_;  // null for KL
  std::shared_ptr<torch::nn::Conv2dImpl> quant_conv_;
  std::shared_ptr<torch::nn::Conv2dImpl> post_quant_conv_;
};

}  // namespace tessera::model
