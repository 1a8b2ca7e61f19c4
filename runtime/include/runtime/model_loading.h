#pragma once

// Loading the LDM sub-models that stages run, from an upstream-style config
// and safetensors weights, each with its id (the fingerprint `tessera model
// info` prints for the same files). Weights may be a whole LDM checkpoint
// (the sub-model's tensors under its prefix, e.g. "first_stage_model.") or
// the sub-model alone (no prefix); the id is the same either way. Everything
// is checked here, before a caller touches a store: a truncated file, a
// missing or extra tensor, a wrong shape, and a weights file that no longer
// matches the checksum written beside it (runtime/checkpoint_checksum.h).

#include <memory>
#include <string>

#include "model/autoencoder_config.h"

namespace tessera::model {
class Autoencoder;
class ClipTextModel;
class UNet;
}  // namespace tessera::model

namespace tessera::runtime {

struct LoadedAutoencoder {
  std::shared_ptr<model::Autoencoder> module;
  std::string id;            // config::model_fingerprint
  std::string architecture;  // "vq" or "kl"
  float scale_factor = 1.0f;
  int downsample = 1;       // pixels per latent cell along a side
  int latent_channels = 0;  // stored channels: embed_dim (VQ) or 2 * embed_dim (KL moments)
  model::AutoencoderConfig config;
};

struct LoadedTextEncoder {
  std::shared_ptr<model::ClipTextModel> module;
  std::string id;
  int64_t context_length = 77;  // 154 selects PathLDM's two-window mode
  int64_t hidden_size = 0;
  int64_t start_token = 49406;
  // Also the padding: FrozenCLIPEmbedder pads with the tokenizer's pad token,
  // "<|endoftext|>", whatever pad_token_id a config.json states.
  int64_t end_token = 49407;
};

struct LoadedUNet {
  std::shared_ptr<model::UNet> module;
  std::string id;
  int64_t in_channels = 0;
  int64_t context_dim = -1;  // -1: no cross-attention
  // Pixels per side the latent must be divisible by: 2^(levels - 1).
  int64_t downsample = 1;
};

// `config`: an LDM YAML with a first_stage_config, or a stand-alone
// autoencoder YAML. Throws tessera::Error naming the config, or
// model::WeightsError naming the weights file and tensor.
[[nodiscard]] LoadedAutoencoder load_autoencoder(const std::string& config, const std::string& weights);

// `config`: an LDM YAML with a cond_stage_config, or a Hugging Face
// CLIPTextConfig / CLIPConfig .json. Throws as load_autoencoder does.
[[nodiscard]] LoadedTextEncoder load_text_encoder(const std::string& config, const std::string& weights);

// `config`: an LDM YAML with a unet_config. `weights`: a whole LDM checkpoint,
// a training checkpoint (its sampling weights are under the same prefix; the
// `train.*` tensors are outside it and ignored) or the denoiser alone.
// Throws as load_autoencoder does.
[[nodiscard]] LoadedUNet load_unet(const std::string& config, const std::string& weights);

}  // namespace tessera::runtime
