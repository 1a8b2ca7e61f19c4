#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::store {

// A model whose outputs the store holds, under meta key "models/<id>". The id
// is the model's fingerprint (config/fingerprint.h): the same weights and
// config always give the same id, and any change gives a new one, so latents
// of a fine-tuned VAE never mix with those of its parent.
struct ModelRecord {
  std::string id;  // 32 lowercase hex digits
  // "first_stage" (latents), "cond_stage" (embeddings) or
  // "feature_extractor" (features, `tessera evaluate`)
  std::string role;
  std::string architecture;  // "vq", "kl", "clip" or "torchscript"
  std::string config_path;   // a feature extractor: its preprocessing (FeatureExtractor::description)
  std::string weights_path;
  std::vector<uint32_t> output_shape;  // per tile (C, H, W) or (D), or per prompt (L, D)
  float scale_factor = 1.0f;
  std::string stored_dtype;  // fp16, bf16 or fp32
  int64_t tile_size = 0;     // first stage: input pixels per side
  // Text encoder: the fingerprint of the vocabulary of the prompts it
  // embedded (vocabulary_record.h); "" when it embedded only the empty prompt.
  std::string vocabulary;
  std::string registered_at;
};

std::string encode_model_record(const ModelRecord& record);
ModelRecord decode_model_record(const std::string& json);

}  // namespace tessera::store
