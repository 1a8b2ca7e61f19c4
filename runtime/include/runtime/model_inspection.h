#pragma once

// What `tessera model` shows and runs: the LDM sub-models ("parts":
// first_stage, unet, cond_stage) a config describes, under the names
// upstream's checkpoints give their tensors (docs/MODELS.md). `config` is an
// LDM YAML or a Hugging Face CLIPTextConfig / CLIPConfig .json.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::runtime {

struct TensorShape {
  std::string name;  // under the part's LDM checkpoint prefix
  std::vector<int64_t> shape;
};

// Every parameter, then every buffer, of each part in checkpoint order.
// Throws tessera::Error naming the config.
[[nodiscard]] std::vector<TensorShape> model_keys(const std::string& config);

struct PartSummary {
  std::string part;
  std::string prefix;  // the part's LDM checkpoint prefix
  int64_t parameters = 0;
  std::string dtype;
  std::string id;                       // with weights: the id commands store for this part; else ""
  std::vector<std::string> first_keys;  // the first parameters' names, under the prefix
};

// One summary per part. With `weights` (a whole LDM checkpoint, or one part
// saved alone under bare names) each part's weights are loaded as the
// commands load them, and its id set; "" skips them. Throws tessera::Error
// naming the config, or model::WeightsError naming the weights file and tensor.
[[nodiscard]] std::vector<PartSummary> summarize_parts(const std::string& config, const std::string& weights);

// Writes every part's parameters and buffers, initialised as upstream
// initialises them with the given seed (the same seed, the same bytes), under
// their checkpoint names to the safetensors file `out`, and returns how many
// tensors it holds. Throws tessera::Error naming the config, or
// model::WeightsError naming `out`.
size_t write_initial_weights(const std::string& config, uint64_t seed, const std::string& out);

struct ForwardOptions {
  std::string config;
  std::string weights;
  std::string part;    // first_stage, unet or cond_stage
  std::string inputs;  // safetensors with the part's named inputs (docs/MODELS.md)
  std::string out;     // safetensors for its named outputs, float32 or integer
  std::string device = "auto";
  std::string dtype = "fp32";  // or CUDA autocast: fp16, bf16
  int threads = 0;             // CPU threads; 0: one per core
};

// Runs one part on named inputs and writes its named outputs. Throws
// tessera::Error naming the config or the inputs file and tensor,
// model::WeightsError naming the weights file and tensor, or
// std::invalid_argument for a device or dtype this machine cannot run
// (before any weights are read).
void run_part_forward(const ForwardOptions& options);

}  // namespace tessera::runtime
