#pragma once

// The one place an LDM sub-model is built from a config and bound to its
// weights, with its id: runtime::load_autoencoder, load_text_encoder,
// load_unet and `tessera model` all build here, so the id `model info`
// prints is the id the commands store for the same config and weights.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "model/autoencoder_config.h"
#include "model/clip_text_config.h"
#include "model/unet_config.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tessera::model {
class WeightsSet;
}  // namespace tessera::model

namespace tessera::runtime {

// A text encoder and the number of positions its embeddings have, which is
// part of its id: the same tower gives 77 or 154 positions (PathLDM's
// two-window mode).
struct TextEncoderConfig {
  model::ClipTextConfig text;
  int64_t context_length = 0;
};

// The sub-models one config file describes.
struct ModelConfigs {
  std::optional<model::AutoencoderConfig> first_stage;
  std::optional<model::UNetConfig> unet;
  std::optional<TextEncoderConfig> cond_stage;
};

// `path`: an LDM YAML (config/ldm_config.h) or a Hugging Face CLIPTextConfig /
// CLIPConfig .json, which describes a text encoder alone (its context length
// is max_position_embeddings). Throws tessera::Error naming the file.
ModelConfigs read_model_configs(const std::string& path);

// One sub-model and what binds it to a checkpoint.
struct ModelPart {
  std::string name;                           // first_stage, unet or cond_stage
  std::shared_ptr<torch::nn::Module> module;  // float32 on the CPU, as constructed
  std::string ldm_prefix;                     // where a whole LDM checkpoint keeps its tensors
  std::vector<std::string> ignored_keys;      // checkpoint tensors (prefixes) the module does not hold
  std::string identity;                       // the config text the id hashes with the weights
};

ModelPart first_stage_part(const model::AutoencoderConfig& config);
ModelPart unet_part(const model::UNetConfig& config);
ModelPart cond_stage_part(const TextEncoderConfig& config);

// Every sub-model of `configs` in checkpoint order: first stage, UNet, text encoder.
std::vector<ModelPart> all_parts(const ModelConfigs& configs);

// Loads `part`'s tensors from `weights`, under the LDM prefix when any tensor
// has it, else under their bare names (the sub-model saved alone), puts the
// module in eval mode and returns its id (config::model_fingerprint of the
// identity and those tensors, the same for both layouts). Throws
// model::WeightsError naming the file and each missing, unexpected or
// misshapen tensor.
std::string load_part_weights(ModelPart& part, const model::WeightsSet& weights);

}  // namespace tessera::runtime
