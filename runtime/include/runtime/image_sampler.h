#pragma once

// The generation stage: text contexts -> latents by DDIM or DDPM with
// classifier-free guidance -> first-stage decode -> RGB images, as CompVis
// latent-diffusion samples (LatentDiffusion.sample_log / DDIMSampler.sample,
// then decode_first_stage). Torch stays behind this header so that the
// pipeline compiles without it.

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "config/ldm_limits.h"
#include "imaging/rgb_image.h"
#include "store/tensor_record.h"

namespace tessera::runtime {

struct ImageSamplerOptions {
  // LDM YAML: unet_config and the diffusion settings (schedule,
  // parameterisation, latent channels and size, scale factor).
  std::string config;
  std::string unet_weights;  // a whole LDM, a training checkpoint or the denoiser alone
  std::string vae_config;    // LDM or autoencoder YAML
  std::string vae_weights;
  std::string sampler = "ddim";  // ddim | ddpm. Default: ddim.
  // DDIM steps; DDPM always runs every timestep of the schedule. Default: 50.
  int steps = 50;
  double eta = 0.0;                    // DDIM's η, 0..config::kMaxDdimEta. Default: 0 (deterministic given x_T).
  double guidance = 1.5;               // guidance scale, 0..config::kMaxGuidance; 1 = off. Default: 1.5 (PathLDM's).
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  std::string compute_dtype = "fp32";  // fp16 / bf16 autocast on CUDA only
  int threads = 0;                     // CPU intra-op threads; 0 = one per core
};

class ImageSampler {
 public:
  // Loads and checks every model and the settings (stages/model_loading.h):
  // a truncated file, a missing tensor, a latent shape the UNet and the VAE
  // disagree on, an unsupported conditioning. Throws tessera::Error or
  // model::WeightsError naming the file.
  explicit ImageSampler(const ImageSamplerOptions& options);
  ~ImageSampler();
  ImageSampler(const ImageSampler&) = delete;
  ImageSampler& operator=(const ImageSampler&) = delete;

  const std::string& unet_id() const;
  const std::string& first_stage_id() const;
  const std::string& sampler_name() const;
  // Denoiser calls per batch: the DDIM steps, or the schedule's length for DDPM.
  int64_t steps() const;
  double eta() const;
  double guidance() const;
  int image_side() const;  // pixels per side of a generated image
  bool on_gpu() const;

  // One image per context, in order. `contexts` and `unconditional` are text
  // hidden states (L, D) with D the UNet's context width, all of one length.
  // Image i starts from x_T ~ N(0, I) drawn from a CPU generator seeded with
  // noise_seeds[i], so its start does not depend on the batch it is in; the
  // sampler's later noise (DDIM with η > 0, DDPM) comes from one CPU
  // generator seeded with `step_seed`. On the CPU the same arguments give the
  // same bytes. Decoding: latents / scale_factor through the first stage (VQ
  // quantises first, as VQModelInterface.decode), clamped to [-1, 1], then
  // round((x + 1) * 127.5).
  std::vector<stages::RgbImage> sample(const std::vector<const store::TensorRecord*>& contexts,
                                       const store::TensorRecord& unconditional,
                                       const std::vector<uint64_t>& noise_seeds, uint64_t step_seed);

  // Wall time spent inside the denoiser's forward passes since construction;
  // synchronised on a GPU, so it includes waiting for the kernels.
  double unet_seconds() const;

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
