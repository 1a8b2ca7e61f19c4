#include <torch/torch.h>

#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "config/fingerprint.h"
#include "config/ldm_config.h"
#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/device.h"
#include "model/init.h"
#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "model/tensor_io.h"
#include "model/unet.h"

namespace tessera::cli {
namespace {

using config::kCondStagePrefix;
using config::kFirstStagePrefix;
using config::kUNetPrefix;

// One sub-model built from a config: the module, its checkpoint prefix, the
// checkpoint keys it ignores, and the canonical text its fingerprint hashes.
struct Part {
  std::string name;  // first_stage, unet or cond_stage
  std::shared_ptr<torch::nn::Module> module;
  std::string prefix;
  std::vector<std::string> ignored;
  std::string canonical;
};

// An LDM YAML, or a Hugging Face CLIPTextConfig (.json) for the text tower alone.
std::vector<Part> build_parts(const std::string& config_path) {
  std::vector<Part> parts;
  if (config_path.size() > 5 && config_path.substr(config_path.size() - 5) == ".json") {
    const auto text = model::ClipTextConfig::from_hugging_face_json(config_path);
    parts.push_back({"cond_stage", std::make_shared<model::ClipTextModel>(text), kCondStagePrefix,
                     model::ClipTextModel::ignored_checkpoint_keys(), config::canonical_text(text)});
    return parts;
  }
  const auto ldm = config::read_ldm_config(config_path);
  if (ldm.first_stage) {
    parts.push_back({"first_stage",
                     std::make_shared<model::Autoencoder>(*ldm.first_stage),
                     kFirstStagePrefix,
                     {"loss."},
                     config::canonical_text(*ldm.first_stage)});
  }
  if (ldm.unet) {
    parts.push_back(
        {"unet", std::make_shared<model::UNet>(*ldm.unet), kUNetPrefix, {}, config::canonical_text(*ldm.unet)});
  }
  if (ldm.cond_stage) {
    parts.push_back({"cond_stage", std::make_shared<model::ClipTextModel>(ldm.cond_stage->text), kCondStagePrefix,
                     model::ClipTextModel::ignored_checkpoint_keys(), config::canonical_text(ldm.cond_stage->text)});
  }
  return parts;
}

Part& find_part(std::vector<Part>& parts, const std::string& name, const std::string& config) {
  for (auto& p : parts) {
    if (p.name == name) return p;
  }
  throw Error(config + " has no " + name + " model");
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t n = 0;
  for (const auto& p : module.parameters()) n += p.numel();
  return n;
}

std::string shape_text(const torch::Tensor& t) {
  std::string text = "[";
  for (int64_t i = 0; i < t.dim(); ++i) text += (i ? ", " : "") + std::to_string(t.size(i));
  return text + "]";
}

const model::TensorView& input(const model::SafetensorsFile& inputs, const char* name) {
  const auto* view = inputs.find(name);
  if (!view) throw Error(inputs.path() + ": no input tensor '" + name + "'");
  return *view;
}

// Runs one sub-model on named inputs and returns its named outputs (the names
// are documented in docs/MODELS.md).
std::vector<model::TensorData> forward(Part& part, const model::SafetensorsFile& inputs, const torch::Device& device) {
  torch::NoGradGuard no_grad;
  part.module->eval();
  std::vector<model::TensorData> out;
  // Outputs are written as float32 (or their integer type) whatever autocast ran in.
  const auto put = [&out](const char* name, const torch::Tensor& t) {
    out.push_back(model::from_torch(name, t.is_floating_point() ? t.to(torch::kFloat32) : t));
  };
  if (auto* ae = dynamic_cast<model::Autoencoder*>(part.module.get())) {
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
  } else if (auto* unet = dynamic_cast<model::UNet*>(part.module.get())) {
    const auto x = model::to_device(model::to_torch(input(inputs, "x")).to(torch::kFloat32), device);
    const auto t = model::to_torch(input(inputs, "timesteps")).to(torch::kInt64).to(device);
    const auto* context = inputs.find("context");
    put("eps",
        unet->forward(x, t, context ? model::to_torch(*context).to(torch::kFloat32).to(device) : torch::Tensor()));
  } else if (auto* clip = dynamic_cast<model::ClipTextModel*>(part.module.get())) {
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

void add_model_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string config, weights, out, part = "all", inputs, device = "auto", dtype = "fp32";
    uint64_t seed = 0;
    bool json = false;
    int threads = 0;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("model", "Inspect, initialise and run the LDM models (upstream layouts)");
  cmd->require_subcommand(1);

  auto* keys = cmd->add_subcommand("keys", "State-dict keys and shapes of every sub-model, tab-separated");
  keys->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  keys->callback([flags, &exit_code] {
    for (auto& part : build_parts(flags->config)) {
      for (const auto& item : part.module->named_parameters()) {
        std::printf("%s%s\t%s\n", part.prefix.c_str(), item.key().c_str(), shape_text(item.value()).c_str());
      }
      for (const auto& item : part.module->named_buffers()) {
        std::printf("%s%s\t%s\n", part.prefix.c_str(), item.key().c_str(), shape_text(item.value()).c_str());
      }
    }
    exit_code = kExitOk;
  });

  auto* info = cmd->add_subcommand("info", "Parameters, dtype, fingerprint and first keys of each sub-model");
  info->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  info->add_option("--weights", flags->weights, "safetensors file or *.safetensors.index.json");
  info->add_flag("--json", flags->json, "Machine-readable output with stable field names");
  info->callback([flags, &exit_code] {
    auto parts = build_parts(flags->config);
    std::unique_ptr<model::WeightsSet> weights;
    if (!flags->weights.empty()) weights = std::make_unique<model::WeightsSet>(model::WeightsSet::open(flags->weights));
    nlohmann::json out = nlohmann::json::array();
    for (auto& part : parts) {
      nlohmann::json j = {{"part", part.name},
                          {"prefix", part.prefix},
                          {"parameters", parameter_count(*part.module)},
                          {"dtype", "float32"}};
      if (weights) {
        model::load_weights(*part.module, *weights, part.prefix, part.ignored);
        j["fingerprint"] = config::model_fingerprint(part.canonical, *weights, part.prefix);
      }
      j["first_keys"] = nlohmann::json::array();
      for (const auto& item : part.module->named_parameters()) {
        if (j["first_keys"].size() == 5) break;
        j["first_keys"].push_back(part.prefix + item.key());
      }
      out.push_back(j);
    }
    if (flags->json) {
      std::cout << out.dump(2) << '\n';
    } else {
      for (const auto& j : out) {
        std::printf("%-12s %14lld parameters, %s%s%s\n", j["part"].get<std::string>().c_str(),
                    (long long)j["parameters"].get<int64_t>(), j["dtype"].get<std::string>().c_str(),
                    j.contains("fingerprint") ? ", fingerprint " : "",
                    j.contains("fingerprint") ? j["fingerprint"].get<std::string>().c_str() : "");
        for (const auto& k : j["first_keys"]) std::printf("  %s\n", k.get<std::string>().c_str());
      }
    }
    exit_code = kExitOk;
  });

  auto* init = cmd->add_subcommand("init", "Random weights following upstream's initialisation, as safetensors");
  init->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  init->add_option("--seed", flags->seed, "Seed; the same seed gives the same weights")->required();
  init->add_option("--out", flags->out, "Output .safetensors")->required();
  init->callback([flags, &exit_code] {
    std::vector<model::TensorData> tensors;
    for (auto& part : build_parts(flags->config)) {
      if (auto* ae = dynamic_cast<model::Autoencoder*>(part.module.get()))
        model::initialize_autoencoder(*ae, flags->seed);
      if (auto* unet = dynamic_cast<model::UNet*>(part.module.get())) model::initialize_unet(*unet, flags->seed);
      if (auto* clip = dynamic_cast<model::ClipTextModel*>(part.module.get())) {
        model::initialize_clip_text(*clip, flags->seed);
      }
      for (const auto& item : part.module->named_parameters()) {
        tensors.push_back(model::from_torch(part.prefix + item.key(), item.value()));
      }
      for (const auto& item : part.module->named_buffers()) {
        tensors.push_back(model::from_torch(part.prefix + item.key(), item.value()));
      }
    }
    model::write_safetensors(flags->out, tensors, {{"format", "pt"}, {"tessera_seed", std::to_string(flags->seed)}});
    std::printf("%s: %zu tensors\n", flags->out.c_str(), tensors.size());
    exit_code = kExitOk;
  });

  auto* fwd = cmd->add_subcommand("forward", "Run one sub-model on named inputs and write named outputs");
  fwd->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  fwd->add_option("--weights", flags->weights, "safetensors file or *.safetensors.index.json")->required();
  fwd->add_option("--part", flags->part, "first_stage, unet or cond_stage")
      ->required()
      ->check(CLI::IsMember({"first_stage", "unet", "cond_stage"}));
  fwd->add_option("--inputs", flags->inputs, "Input tensors (.safetensors)")->required();
  fwd->add_option("--out", flags->out, "Output tensors (.safetensors)")->required();
  fwd->add_option("--threads", flags->threads, "CPU threads (0 = one per core)");
  fwd->add_option("--device", flags->device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  fwd->add_option("--dtype", flags->dtype, "fp32, or CUDA autocast: fp16 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
  fwd->callback([flags, &exit_code] {
    model::set_cpu_threads(flags->threads);
    const auto device = model::resolve_device(flags->device);
    const auto precision = model::parse_precision(flags->dtype);
    // Refuses mixed precision on CPU before any weights are read.
    model::AutocastScope autocast(device, precision);
    auto parts = build_parts(flags->config);
    auto& part = find_part(parts, flags->part, flags->config);
    const auto weights = model::WeightsSet::open(flags->weights);
    model::load_weights(*part.module, weights, part.prefix, part.ignored);
    model::place_module(*part.module, device);
    const auto inputs = model::SafetensorsFile::open(flags->inputs);
    model::write_safetensors(flags->out, forward(part, inputs, device));
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
