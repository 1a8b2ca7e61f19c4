#pragma once

// CLIP's text transformer (OpenAI CLIP's encode_text up to ln_final), with
// Hugging Face CLIPTextModel's module names
// (transformers/models/clip/modeling_clip.py: CLIPTextTransformer,
// CLIPTextEmbeddings, CLIPEncoder, CLIPEncoderLayer, CLIPAttention, CLIPMLP),
// reimplemented as torch::nn modules. Every submodule is registered under
// upstream's attribute name, so the parameter names are a CLIPTextModel
// state dict's keys ("text_model.embeddings.token_embedding.weight", ...);
// under an LDM / PathLDM checkpoint they follow "cond_stage_model.transformer.".
// Load them with load_weights (model/state_dict_loader.h), passing
// ClipTextModel::ignored_checkpoint_keys().
//
// The modules hold weights and run forward passes only: call eval() and hold
// a torch::NoGradGuard for inference.

#include <torch/nn/module.h>

#include <memory>
#include <string>
#include <vector>

#include "model/clip_text_config.h"

namespace tessera::model {

class ClipTextTransformer;

class ClipTextModel : public torch::nn::Module {
 public:
  // Validates `config` (ConfigError) and builds float32 modules with
  // LibTorch's default initialisation; load weights before use.
  explicit ClipTextModel(ClipTextConfig config);
  ~ClipTextModel() override;

  const ClipTextConfig& config() const { return config_; }

  // Checkpoint keys (relative to the prefix given to load_weights) that have
  // no parameter here: Hugging Face's non-persistent-in-newer-versions
  // "text_model.embeddings.position_ids" buffer (arange(77)), which older
  // checkpoints, PathLDM's and Stable Diffusion's included, carry. Positions
  // are computed in forward instead, so it is not registered as a buffer.
  static const std::vector<std::string>& ignored_checkpoint_keys();

  // last_hidden_state (B, T, hidden_size) for input_ids (B, T) of an integer
  // dtype, T <= max_position_embeddings, with positions 0..T-1 and a causal
  // mask. `attention_mask` (B, T; 1 or true = token, 0 = padding) adds a key
  // padding mask, as CLIPTextModel(input_ids, attention_mask) does; leave it
  // undefined for the causal mask only (Stable Diffusion's conditioning).
  // A query whose keys are all masked attends uniformly to all keys (the
  // large-finite-negative convention of Hugging Face), never NaN.
  // Throws std::invalid_argument for wrong shapes, dtypes or out-of-vocabulary ids.
  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask = torch::Tensor());

  // PathLDM's 154-token compatibility mode: input_ids and attention_mask of
  // shape (B, 2 * max_position_embeddings) are split into two windows, each
  // embedded with positions 0..max_position_embeddings-1; the encoder then
  // runs once over all 2 * max_position_embeddings tokens with a causal mask
  // plus the key padding mask, followed by the final layer norm. Returns
  // (B, 2 * max_position_embeddings, hidden_size).
  torch::Tensor encode_pathldm_154(const torch::Tensor& input_ids, const torch::Tensor& attention_mask);

 private:
  ClipTextConfig config_;
  std::shared_ptr<ClipTextTransformer> text_model_;
};

}  // namespace tessera::model
