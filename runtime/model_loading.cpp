#include "runtime/model_loading.h"

#include <torch/torch.h>

#include "base/error.h"
#include "config/fingerprint.h"
#include "config/ldm_config.h"
#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "model/unet.h"

namespace tessera::runtime {
namespace {

bool ends_with(const std::string& text, const std::string& suffix) {
  return text.size() >= suffix.size() && text.compare(text.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// The checkpoint prefix when the set holds a whole LDM, else "" (the
// sub-model saved alone).
std::string detect_prefix(const model::WeightsSet& weights, const std::string& ldm_prefix) {
  for (const auto& name : weights.names()) {
    if (name.compare(0, ldm_prefix.size(), ldm_prefix) == 0) return ldm_prefix;
  }
  return "";
}

}  // namespace

LoadedAutoencoder load_autoencoder(const std::string& config_path, const std::string& weights_path) {
  const auto ldm = config::read_ldm_config(config_path);
  if (!ldm.first_stage) throw Error(config_path + ": no first stage (autoencoder) in this config");
  const auto& config = *ldm.first_stage;
  const auto weights = model::WeightsSet::open(weights_path);
  const std::string prefix = detect_prefix(weights, config::kFirstStagePrefix);

  LoadedAutoencoder loaded;
  loaded.module = std::make_shared<model::Autoencoder>(config);
  model::load_weights(*loaded.module, weights, prefix, {"loss."});
  loaded.module->eval();
  loaded.id = config::model_fingerprint(config::canonical_text(config), weights, prefix);
  loaded.architecture = config.kind == model::AutoencoderKind::kVq ? "vq" : "kl";
  loaded.scale_factor = float(config.scale_factor);
  loaded.downsample = 1 << (config.ch_mult.size() - 1);
  loaded.latent_channels = int(config.kind == model::AutoencoderKind::kVq ? config.embed_dim : 2 * config.embed_dim);
  return loaded;
}

LoadedTextEncoder load_text_encoder(const std::string& config_path, const std::string& weights_path) {
  model::ClipTextConfig text;
  int64_t context_length = 0;
  if (ends_with(config_path, ".json")) {
    try {
      text = model::ClipTextConfig::from_hugging_face_json(config_path);
    } catch (const std::invalid_argument& e) {
      throw Error(e.what());
    }
    context_length = text.max_position_embeddings;
  } else {
    const auto ldm = config::read_ldm_config(config_path);
    if (!ldm.cond_stage) throw Error(config_path + ": no cond stage (text encoder) in this config");
    text = ldm.cond_stage->text;
    context_length = ldm.cond_stage->max_length;
  }
  const auto weights = model::WeightsSet::open(weights_path);
  const std::string prefix = detect_prefix(weights, config::kCondStagePrefix);

  LoadedTextEncoder loaded;
  loaded.module = std::make_shared<model::ClipTextModel>(text);
  model::load_weights(*loaded.module, weights, prefix, model::ClipTextModel::ignored_checkpoint_keys());
  loaded.module->eval();
  // The context length changes what an embedding is (77 or 154 positions),
  // so it is part of the id.
  loaded.id = config::model_fingerprint(
      config::canonical_text(text) + "context_length=" + std::to_string(context_length) + "\n", weights, prefix);
  loaded.context_length = context_length;
  loaded.hidden_size = text.hidden_size;
  if (text.bos_token_id) loaded.start_token = *text.bos_token_id;
  if (text.eos_token_id) loaded.end_token = *text.eos_token_id;
  return loaded;
}

LoadedUNet load_unet(const std::string& config_path, const std::string& weights_path) {
  const auto ldm = config::read_ldm_config(config_path);
  if (!ldm.unet) throw Error(config_path + ": no unet_config (denoiser) in this config");
  const auto& config = *ldm.unet;
  const auto weights = model::WeightsSet::open(weights_path);
  const std::string prefix = detect_prefix(weights, config::kUNetPrefix);

  LoadedUNet loaded;
  loaded.module = std::make_shared<model::UNet>(config);
  model::load_weights(*loaded.module, weights, prefix);
  loaded.module->eval();
  loaded.id = config::model_fingerprint(config::canonical_text(config), weights, prefix);
  loaded.in_channels = config.in_channels;
  loaded.context_dim = config.context_dim;
  loaded.downsample = int64_t(1) << (config.channel_mult.size() - 1);
  return loaded;
}

}  // namespace tessera::runtime
