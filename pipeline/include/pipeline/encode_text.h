#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "pipeline/progress.h"
#include "runtime/text_encoder.h"

namespace tessera::pipeline {

struct EncodeTextOptions {
  std::filesystem::path store;
  runtime::TextEncoderOptions encoder;
  size_t batch = 32;  // prompts per forward pass. Default: 32.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct EncodeTextSummary {
  std::string model_id;
  std::string empty_prompt_id;  // the unconditional embedding's key
  uint64_t prompts = 0;         // distinct prompts in the store, plus the empty one
  uint64_t present = 0;         // embedded by this model before the run
  uint64_t encoded = 0;
  double seconds = 0;
  bool interrupted = false;
};

// Encodes every distinct prompt of the store once with the text encoder, and
// the empty prompt for classifier-free guidance, into the `embeddings` column
// family; prompts already embedded by this model are skipped. Each batch is
// committed on its own, so an interrupted run keeps what it finished.
EncodeTextSummary run_encode_text(const EncodeTextOptions& options);

}  // namespace tessera::pipeline
