#include "runtime/model_loading.h"

#include <torch/torch.h>

#include "base/error.h"
#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/safetensors.h"
#include "model/unet.h"
#include "model_parts.h"
#include "runtime/checkpoint_checksum.h"

namespace tessera::runtime {
namespace {

// A file written with a checksum (a training run's checkpoint) is read only
// when it still matches it.
model::WeightsSet open_verified(const std::string& weights_path) {
  verify_checksum(weights_path);
  return model::WeightsSet::open(weights_path);
}

}  // namespace

LoadedAutoencoder load_autoencoder(const std::string& config_path, const std::string& weights_path) {
  const auto configs = read_model_configs(config_path);
  if (!configs.first_stage) throw Error(config_path + ": no first stage (autoencoder) in this config");
  const auto& config = *configs.first_stage;
  auto part = first_stage_part(config);

  LoadedAutoencoder loaded;
  loaded.id = load_part_weights(part, open_verified(weights_path));
  loaded.module = std::static_pointer_cast<model::Autoencoder>(part.module);
  loaded.architecture = config.kind == model::AutoencoderKind::kVq ? "vq" : "kl";
  loaded.scale_factor = float(config.scale_factor);
  loaded.downsample = 1 << (config.ch_mult.size() - 1);
  loaded.latent_channels = int(config.kind == model::AutoencoderKind::kVq ? config.embed_dim : 2 * config.embed_dim);
  loaded.config = config;
  return loaded;
}

LoadedTextEncoder load_text_encoder(const std::string& config_path, const std::string& weights_path) {
  const auto configs = read_model_configs(config_path);
  if (!configs.cond_stage) throw Error(config_path + ": no cond stage (text encoder) in this config");
  const auto& config = *configs.cond_stage;
  auto part = cond_stage_part(config);

  LoadedTextEncoder loaded;
  loaded.id = load_part_weights(part, open_verified(weights_path));
  loaded.module = std::static_pointer_cast<model::ClipTextModel>(part.module);
  loaded.context_length = config.context_length;
  loaded.hidden_size = config.text.hidden_size;
  if (config.text.bos_token_id) loaded.start_token = *config.text.bos_token_id;
  if (config.text.eos_token_id) loaded.end_token = *config.text.eos_token_id;
  return loaded;
}

LoadedUNet load_unet(const std::string& config_path, const std::string& weights_path) {
  const auto configs = read_model_configs(config_path);
  if (!configs.unet) throw Error(config_path + ": no unet_config (denoiser) in this config");
  const auto& config = *configs.unet;
  auto part = unet_part(config);

  LoadedUNet loaded;
  loaded.id = load_part_weights(part, open_verified(weights_path));
  loaded.module = std::static_pointer_cast<model::UNet>(part.module);
  loaded.in_channels = config.in_channels;
  loaded.context_dim = config.context_dim;
  loaded.downsample = int64_t(1) << (config.channel_mult.size() - 1);
  return loaded;
}

}  // namespace tessera::runtime
