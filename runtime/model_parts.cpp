#include "model_parts.h"

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

bool is_json(const std::string& path) {
  const std::string suffix = ".json";
  return path.size() >= suffix.size() && path.compare(path.size() - suffix.size(), suffix.size(), suffix) == 0;
}

// `ldm_prefix` when any tensor of the set has it, else "" (the sub-model saved alone).
std::string detect_prefix(const model::WeightsSet& weights, const std::string& ldm_prefix) {
  for (const auto& name : weights.names()) {
    if (name.compare(0, ldm_prefix.size(), ldm_prefix) == 0) return ldm_prefix;
  }
  return "";
}

}  // namespace

ModelConfigs read_model_configs(const std::string& path) {
  ModelConfigs configs;
  if (is_json(path)) {
    const auto text = model::ClipTextConfig::from_hugging_face_json(path);
    configs.cond_stage = TextEncoderConfig{text, text.max_position_embeddings};
    return configs;
  }
  auto ldm = config::read_ldm_config(path);
  configs.first_stage = std::move(ldm.first_stage);
  configs.unet = std::move(ldm.unet);
  if (ldm.cond_stage) configs.cond_stage = TextEncoderConfig{ldm.cond_stage->text, ldm.cond_stage->max_length};
  return configs;
}

ModelPart first_stage_part(const model::AutoencoderConfig& config) {
  return {"first_stage",
          std::make_shared<model::Autoencoder>(config),
          config::kFirstStagePrefix,
          {"loss."},
          config::canonical_text(config)};
}

ModelPart unet_part(const model::UNetConfig& config) {
  return {"unet", std::make_shared<model::UNet>(config), config::kUNetPrefix, {}, config::canonical_text(config)};
}

ModelPart cond_stage_part(const TextEncoderConfig& config) {
  return {"cond_stage", std::make_shared<model::ClipTextModel>(config.text), config::kCondStagePrefix,
          model::ClipTextModel::ignored_checkpoint_keys(),
          config::canonical_text(config.text) + "context_length=" + std::to_string(config.context_length) + "\n"};
}

std::vector<ModelPart> all_parts(const ModelConfigs& configs) {
  std::vector<ModelPart> parts;
  if (configs.first_stage) parts.push_back(first_stage_part(*configs.first_stage));
  if (configs.unet) parts.push_back(unet_part(*configs.unet));
  if (configs.cond_stage) parts.push_back(cond_stage_part(*configs.cond_stage));
  return parts;
}

std::string load_part_weights(ModelPart& part, const model::WeightsSet& weights) {
  const std::string prefix = detect_prefix(weights, part.ldm_prefix);
  model::load_weights(*part.module, weights, prefix, part.ignored_keys);
  part.module->eval();
  return config::model_fingerprint(part.identity, weights, prefix);
}

}  // namespace tessera::runtime
