#include "runtime/model_inspection.h"

#include <torch/torch.h>

#include <optional>

#include "base/error.h"
#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/device.h"
#include "model/init.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/unet.h"
#include "model_parts.h"

namespace tessera::runtime {
namespace {

// Parts are built in float32 (model/ modules' construction dtype).
constexpr const char* kPartDtype = "float32";
// How many parameter names a summary lists: enough to see the layout.
constexpr size_t kFirstKeysShown = 5;

std::vector<int64_t> shape_of(const torch::Tensor& tensor) { return tensor.sizes().vec(); }

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

ModelPart find_part(const std::string& config_path, const std::string& name) {
  const auto configs = read_model_configs(config_path);
  if (name == "first_stage" && configs.first_stage) return first_stage_part(*configs.first_stage);
  if (name == "unet" && configs.unet) return unet_part(*configs.unet);
  if (name == "cond_stage" && configs.cond_stage) return cond_stage_part(*configs.cond_stage);
  throw Error(config_path + " has no " + name + " model");
}

void initialize(torch::nn::Module& module, uint64_t seed) {
  if (auto* autoencoder = dynamic_cast<model::Autoencoder*>(&module)) model::initialize_autoencoder(*autoencoder, seed);
  if (auto* unet = dynamic_cast<model::UNet*>(&module)) model::initialize_unet(*unet, seed);
  if (auto* clip = dynamic_cast<model::ClipTextModel*>(&module)) model::initialize_clip_text(*clip, seed);
}

const model::TensorView& input(const model::SafetensorsFile& inputs, const char* name) {
  const auto* view = inputs.find(name);
  if (!view) throw Error(inputs.path() + ": no input tensor '" + name + "'");
  return *view;
}

// The part's named outputs for its named inputs (docs/MODELS.md), as float32
// (or their integer type) whatever autocast ran in.
std::vector<model::TensorData> forward(torch::nn::Module& module, const model::SafetensorsFile& inputs,
                                       const torch::Device& device) {
  torch::NoGradGuard no_grad;
  std::vector<model::TensorData> out;
  const auto put = [&out](const char* name, const torch::Tensor& t) {
    out.push_back(model::from_torch(name, t.is_floating_point() ? t.to(torch::kFloat32) : t));
  };
  if (auto* ae = dynamic_cast<model::Autoencoder*>(&module)) {
    const auto image = model::to_device(model::to_torch(input(inputs, "image")).to(torch::kFloat32), device);
    const auto moments = ae->encode_moments(image);
    if (ae->config().kind == model::AutoencoderKind::kVq) {
      const auto q = ae->quantize(moments);
      put("h", moments);
      put("quantized", q.quantized);
      put("indices", q.indices);
      put("decoded", ae->decode_unquantized(q.quantized));
    } else {
      const auto posterior = model::DiagonalGaussian::from_moments(moments);
      put("mean", posterior.mean);
      put("logvar", posterior.logvar);
      put("decoded", ae->decode(posterior.mean));
    }
  } else if (auto* unet = dynamic_cast<model::UNet*>(&module)) {
    const auto x = model::to_device(model::to_torch(input(inputs, "x")).to(torch::kFloat32), device);
    const auto t = model::to_torch(input(inputs, "timesteps")).to(torch::kInt64).to(device);
    const auto* context = inputs.find("context");
    put("eps",
        unet->forward(x, t, context ? model::to_torch(*context).to(torch::kFloat32).to(device) : torch::Tensor()));
  } else if (auto* clip = dynamic_cast<model::ClipTextModel*>(&module)) {
    const auto ids = model::to_torch(input(inputs, "input_ids")).to(torch::kInt64).to(device);
    const auto* mask = inputs.find("attention_mask");
    const auto attention = mask ? model::to_torch(*mask).to(torch::kInt64).to(device) : torch::Tensor();
    // 154 columns select PathLDM's two-window mode.
    const auto hidden = ids.size(1) > clip->config().max_position_embeddings ? clip->encode_pathldm_154(ids, attention)
                                                                             : clip->forward(ids, attention);
    put("last_hidden_state", hidden);
  }
  return out;
}

}  // namespace

std::vector<TensorShape> model_keys(const std::string& config) {
  std::vector<TensorShape> keys;
  for (const auto& part : all_parts(read_model_configs(config))) {
    for (const auto& item : part.module->named_parameters()) {
      keys.push_back({part.ldm_prefix + item.key(), shape_of(item.value())});
    }
    for (const auto& item : part.module->named_buffers()) {
      keys.push_back({part.ldm_prefix + item.key(), shape_of(item.value())});
    }
  }
  return keys;
}

std::vector<PartSummary> summarize_parts(const std::string& config, const std::string& weights_path) {
  auto parts = all_parts(read_model_configs(config));
  std::optional<model::WeightsSet> weights;
  if (!weights_path.empty()) weights = model::WeightsSet::open(weights_path);
  std::vector<PartSummary> summaries;
  for (auto& part : parts) {
    PartSummary summary{part.name, part.ldm_prefix, parameter_count(*part.module), kPartDtype, "", {}};
    if (weights) summary.id = load_part_weights(part, *weights);
    for (const auto& item : part.module->named_parameters()) {
      if (summary.first_keys.size() == kFirstKeysShown) break;
      summary.first_keys.push_back(part.ldm_prefix + item.key());
    }
    summaries.push_back(std::move(summary));
  }
  return summaries;
}

size_t write_initial_weights(const std::string& config, uint64_t seed, const std::string& out) {
  std::vector<model::TensorData> tensors;
  for (auto& part : all_parts(read_model_configs(config))) {
    initialize(*part.module, seed);
    for (const auto& item : part.module->named_parameters()) {
      tensors.push_back(model::from_torch(part.ldm_prefix + item.key(), item.value()));
    }
    for (const auto& item : part.module->named_buffers()) {
      tensors.push_back(model::from_torch(part.ldm_prefix + item.key(), item.value()));
    }
  }
  model::write_safetensors(out, tensors, {{"format", "pt"}, {"tessera_seed", std::to_string(seed)}});
  return tensors.size();
}

void run_part_forward(const ForwardOptions& options) {
  model::set_cpu_threads(options.threads);
  const auto device = model::resolve_device(options.device);
  const auto precision = model::parse_precision(options.dtype);
  // Refuses mixed precision on the CPU before any weights are read.
  model::AutocastScope autocast(device, precision);
  auto part = find_part(options.config, options.part);
  load_part_weights(part, model::WeightsSet::open(options.weights));
  model::place_module(*part.module, device);
  const auto inputs = model::SafetensorsFile::open(options.inputs);
  model::write_safetensors(options.out, forward(*part.module, inputs, device));
}

}  // namespace tessera::runtime
