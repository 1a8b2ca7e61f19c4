#pragma once

// The text stage: CLIP token ids -> the frozen text encoder's last hidden
// state, as FrozenCLIPEmbedder conditions LDM's cross-attention. Torch stays
// behind this header.

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "store/model_record.h"
#include "store/tensor_record.h"
#include "store/vocabulary_record.h"

namespace tessera::runtime {

struct TextEncoderOptions {
  std::string config;   // LDM YAML with a cond_stage_config, or a CLIPTextConfig .json
  std::string weights;  // safetensors or *.safetensors.index.json
  std::string device = "auto";
  std::string compute_dtype = "fp32";  // fp16 / bf16 autocast on CUDA only
  store::TensorDType stored_dtype = store::TensorDType::kF16;
  int threads = 0;
  // The vocabulary of the ids to embed: its start and end tokens make the
  // empty prompt and pad, and its fingerprint goes into model_record().
  // std::nullopt: CLIP's, with the config's start and end tokens.
  std::optional<store::VocabularyRecord> vocabulary;
};

class TextEncoder {
 public:
  explicit TextEncoder(const TextEncoderOptions& options);
  ~TextEncoder();
  TextEncoder(const TextEncoder&) = delete;
  TextEncoder& operator=(const TextEncoder&) = delete;

  const std::string& model_id() const;
  store::ModelRecord model_record() const;
  int64_t context_length() const;

  // The ids of the empty prompt, the unconditional input of classifier-free
  // guidance: the vocabulary's start and end tokens.
  std::vector<int32_t> empty_prompt_ids() const;

  // One (context_length, hidden) record per prompt. `ids` are CLIP ids with
  // start and end tokens, as tokenize() and the prompt records hold them;
  // they are padded with the vocabulary's end token to the context length, as
  // FrozenCLIPEmbedder pads. 77 positions run with the causal mask only (LDM
  // and Stable Diffusion); PathLDM's 154 run its two windows with the padding
  // masked. Throws tessera::Error for ids longer than the context.
  std::vector<store::TensorRecord> encode(const std::vector<std::vector<int32_t>>& ids);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
