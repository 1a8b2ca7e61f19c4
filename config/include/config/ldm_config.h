#pragma once

// Reading the YAML configs that ship with CompVis latent-diffusion style
// checkpoints (CompVis latent-diffusion, PathLDM, Stable Diffusion v1) into
// the torch-free model config structs. Two layouts are read:
// - a full LDM: model.target ldm.models.diffusion.ddpm.LatentDiffusion with
//   model.params holding the diffusion settings and the first_stage_config,
//   unet_config and cond_stage_config blocks (each optional here, so that a
//   config describing only the denoiser can be read);
// - a stand-alone first stage: model.target ldm.models.autoencoder.
//   VQModelInterface, VQModel or AutoencoderKL.
// Reading is strict: an unknown key, a wrongly-typed value, a missing
// required key, an unknown target or an unsupported value is a tessera::Error
// whose message starts with the file and names the key path, e.g.
// "pathldm.yaml: model.params.unet_config.params.num_heds: unknown key".
// Keys that upstream configs carry but that change neither the network nor
// sampling (monitor, lossconfig, ckpt_path, use_ema, ...) are accepted and
// ignored by the lists in ldm_config.cpp.

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "model/autoencoder_config.h"
#include "model/clip_text_config.h"
#include "model/unet_config.h"

namespace tessera::config {

// Where each sub-model's tensors live in an LDM checkpoint.
inline constexpr const char* kFirstStagePrefix = "first_stage_model.";
inline constexpr const char* kUNetPrefix = "model.diffusion_model.";
inline constexpr const char* kCondStagePrefix = "cond_stage_model.transformer.";

// ldm.modules.encoders.modules.FrozenCLIPEmbedder.
struct CondStageConfig {
  std::string target;
  std::string version;         // Hugging Face name of the CLIP model
  int64_t max_length = 77;     // 77, or 154 for PathLDM's two-window mode
  model::ClipTextConfig text;  // ClipTextConfig::known(version)
};

// What the model predicts: upstream's "eps" (the noise) or "v".
enum class Parameterization { kEps, kV };

// The diffusion-level settings of DDPM / LatentDiffusion, with upstream's
// defaults for absent keys.
struct DiffusionParams {
  int64_t timesteps = 1000;
  std::string beta_schedule = "linear";  // linear | cosine | sqrt_linear | sqrt
  double linear_start = 1e-4;
  double linear_end = 2e-2;
  double cosine_s = 8e-3;
  double v_posterior = 0.0;
  bool clip_denoised = true;
  Parameterization parameterization = Parameterization::kEps;
  double scale_factor = 1.0;
  // When true, training replaced scale_factor by 1/std of the first batch's
  // latents; the value in use is then the checkpoint's scale_factor buffer.
  bool scale_by_std = false;
  // Resolved as LatentDiffusion does: an absent conditioning_key means
  // "concat" (or "crossattn" with concat_mode false), and an unconditional
  // model has none (""). Otherwise crossattn | concat | hybrid | adm.
  std::string conditioning_key;
  bool unconditional = false;  // cond_stage_config is "__is_unconditional__"
  std::string first_stage_key = "image";
  std::string cond_stage_key = "image";
  int64_t image_size = 256;  // latent side length
  int64_t channels = 3;      // latent channels
};

// upstream ldm/lr_scheduler.py LambdaLinearScheduler: per cycle, the
// learning-rate multiplier rises linearly from f_start to f_max over
// warm_up_steps, then falls linearly towards f_min over the cycle's length.
struct LambdaLinearSchedule {
  std::vector<int64_t> warm_up_steps;
  std::vector<int64_t> cycle_lengths;
  std::vector<double> f_start;
  std::vector<double> f_max;
  std::vector<double> f_min;
};

// How `tessera train` trains the denoiser. Upstream's own keys are read where
// they exist (model.base_learning_rate, model.params.use_ema and
// scheduler_config); the rest, which upstream spreads over PyTorch
// Lightning's trainer and data blocks, lives in a top-level `training` block.
struct TrainingParams {
  double base_learning_rate = 1e-4;
  bool use_ema = true;
  std::optional<LambdaLinearSchedule> schedule;  // none: constant
  // training:
  int64_t batch_size = 4;  // per process and micro-batch
  int64_t accumulate_grad_batches = 1;
  double gradient_clip_val = 0.0;  // 0: no clipping
  double ema_decay = 0.9999;
  double cfg_dropout = 0.1;             // probability a tile trains with the empty prompt
  bool flip = true;                     // random horizontal and vertical latent flips
  double weight_decay = 0.01;           // AdamW, torch's default
  bool gradient_checkpointing = false;  // recompute UNet blocks in backward
  int64_t log_every = 10;               // steps between plain progress lines
  int64_t checkpoint_every = 500;
  int64_t sample_every = 500;  // 0: no sample grids
  int64_t sample_steps = 20;   // DDIM steps of the sample grids
  double sample_guidance = 1.5;
};

struct LdmConfig {
  // For a full LDM, first_stage->scale_factor is diffusion.scale_factor.
  std::optional<model::AutoencoderConfig> first_stage;
  std::optional<model::UNetConfig> unet;
  std::optional<CondStageConfig> cond_stage;
  DiffusionParams diffusion;
  TrainingParams training;
};

// Reads and validates the config at `path`. Throws tessera::Error.
LdmConfig read_ldm_config(const std::string& path);

// The same for YAML text; `name` starts the error messages.
LdmConfig parse_ldm_config(const std::string& yaml_text, const std::string& name);

}  // namespace tessera::config
