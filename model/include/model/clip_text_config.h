#pragma once

// Hyper-parameters of CLIP's text transformer as Hugging Face's
// CLIPTextConfig names them (transformers/models/clip/configuration_clip.py),
// for ClipTextModel (model/clip_text.h). Torch-free, so that config readers
// outside model/ can fill it without including LibTorch.

#include <cstdint>
#include <optional>
#include <string>

namespace tessera::model {

struct ClipTextConfig {
  // The defaults are the text tower of openai/clip-vit-base-patch32, with the
  // CLIP tokenizer's special-token ids (see known()).
  int64_t vocab_size = 49408;
  int64_t hidden_size = 512;
  int64_t intermediate_size = 2048;
  int64_t num_hidden_layers = 12;
  int64_t num_attention_heads = 8;
  int64_t max_position_embeddings = 77;
  // "quick_gelu" (x * sigmoid(1.702 x), OpenAI CLIP) or "gelu" (erf GELU).
  std::string hidden_act = "quick_gelu";
  double layer_norm_eps = 1e-5;
  // Special-token ids. They do not change the network; nullopt where a
  // config.json has null.
  std::optional<int64_t> bos_token_id = 49406;
  std::optional<int64_t> eos_token_id = 49407;
  std::optional<int64_t> pad_token_id = 49407;

  // Throws ConfigError naming the first inconsistent field.
  void validate() const;

  // Reads a Hugging Face config.json: either a CLIPTextConfig
  // (model_type "clip_text_model") or a full CLIPConfig (model_type "clip"),
  // whose "text_config" (or a non-null legacy "text_config_dict"; when both
  // are objects they must agree) is read. Strict: every key must be one this
  // reader understands. The architecture keys are the fields above
  // (hidden_act must be "quick_gelu" or "gelu", model_type must name the
  // CLIP text model); the keys that do not change this model are accepted
  // and ignored by the list kIgnoredHuggingFaceKeys in clip_text_config.cpp
  // (PretrainedConfig's generation / bookkeeping fields, dropout and
  // initialisation settings, projection_dim, and, in a CLIPConfig, the
  // vision tower's config). Any other key, which could change the
  // architecture, is an error naming it. Missing architecture keys take
  // CLIPTextConfig's defaults in current transformers versions (the fields'
  // defaults above, except pad_token_id, whose default there is 1). Throws
  // ConfigError starting with `path` (and naming the key) for unreadable
  // files, malformed JSON, unknown keys, wrongly-typed values and invalid
  // configs.
  static ClipTextConfig from_hugging_face_json(const std::string& path);

  // Built-in configs for the text towers of "openai/clip-vit-base-patch32"
  // (width 512, 12 layers, 8 heads, MLP 2048), "openai/clip-vit-large-patch14"
  // (768, 12 layers, 12 heads, 3072) and "vinid/plip" (PLIP, fine-tuned from
  // ViT-B/32: the same text architecture). All have vocab 49408, 77
  // positions, quick_gelu and eps 1e-5, as their Hugging Face config.json
  // files say. The token ids are the CLIP tokenizer's (<|startoftext|> 49406,
  // <|endoftext|> 49407, also the pad token), not the legacy 0 / 2 / 1 that
  // those config.json files carry. Throws ConfigError for other names.
  static ClipTextConfig known(const std::string& name);

  bool operator==(const ClipTextConfig& other) const;
  bool operator!=(const ClipTextConfig& other) const { return !(*this == other); }
};

}  // namespace tessera::model
