#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_commands.h"
#include "run_flags.h"
#include "runtime/model_inspection.h"

namespace tessera::cli {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::string text = "[";
  for (size_t i = 0; i < shape.size(); ++i) text += (i ? ", " : "") + std::to_string(shape[i]);
  return text + "]";
}

nlohmann::json summary_json(const runtime::PartSummary& s) {
  nlohmann::json j = {{"part", s.part}, {"prefix", s.prefix}, {"parameters", s.parameters}, {"dtype", s.dtype}};
  if (!s.id.empty()) j["fingerprint"] = s.id;
  j["first_keys"] = s.first_keys;
  return j;
}

void print_summary(const runtime::PartSummary& s) {
  std::printf("%-12s %14lld parameters, %s%s%s\n", s.part.c_str(), (long long)s.parameters, s.dtype.c_str(),
              s.id.empty() ? "" : ", fingerprint ", s.id.c_str());
  for (const auto& key : s.first_keys) std::printf("  %s\n", key.c_str());
}

}  // namespace

void add_model_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string config, weights, out;
    uint64_t seed = 0;
    bool json = false;
    runtime::ForwardOptions forward;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kModelCommand);
  cmd->require_subcommand(1);

  auto* keys = cmd->add_subcommand("keys", "State-dict keys and shapes of every sub-model, tab-separated");
  keys->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  keys->callback([flags, &exit_code] {
    for (const auto& key : runtime::model_keys(flags->config)) {
      std::printf("%s\t%s\n", key.name.c_str(), shape_text(key.shape).c_str());
    }
    exit_code = kExitOk;
  });

  auto* info = cmd->add_subcommand("info", "Parameters, dtype, fingerprint and first keys of each sub-model");
  info->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  info->add_option("--weights", flags->weights, "safetensors file or *.safetensors.index.json");
  info->add_flag("--json", flags->json, "Machine-readable output with stable field names");
  info->callback([flags, &exit_code] {
    const auto summaries = runtime::summarize_parts(flags->config, flags->weights);
    if (flags->json) {
      nlohmann::json out = nlohmann::json::array();
      for (const auto& s : summaries) out.push_back(summary_json(s));
      std::cout << out.dump(2) << '\n';
    } else {
      for (const auto& s : summaries) print_summary(s);
    }
    exit_code = kExitOk;
  });

  auto* init = cmd->add_subcommand("init", "Random weights following upstream's initialisation, as safetensors");
  init->add_option("--config", flags->config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  init->add_option("--seed", flags->seed, "Seed; the same seed gives the same weights")->required()->check(any_seed());
  init->add_option("--out", flags->out, "Output .safetensors")->required();
  init->callback([flags, &exit_code] {
    const size_t tensors = runtime::write_initial_weights(flags->config, flags->seed, flags->out);
    std::printf("%s: %zu tensors\n", flags->out.c_str(), tensors);
    exit_code = kExitOk;
  });

  auto& forward = flags->forward;
  auto* fwd = cmd->add_subcommand("forward", "Run one sub-model on named inputs and write named outputs");
  fwd->add_option("--config", forward.config, "LDM YAML (or a CLIPTextConfig .json)")->required();
  fwd->add_option("--weights", forward.weights, "safetensors file or *.safetensors.index.json")->required();
  fwd->add_option("--part", forward.part, "first_stage, unet or cond_stage")
      ->required()
      ->check(CLI::IsMember({"first_stage", "unet", "cond_stage"}));
  fwd->add_option("--inputs", forward.inputs, "Input tensors (.safetensors)")->required();
  fwd->add_option("--out", forward.out, "Output tensors (.safetensors)")->required();
  add_threads_flag(fwd, forward.threads);
  fwd->add_option("--device", forward.device, "auto, cpu, cuda or cuda:N")->capture_default_str();
  fwd->add_option("--dtype", forward.dtype, "fp32, or CUDA autocast: fp16 or bf16")
      ->capture_default_str()
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}));
  fwd->callback([flags, &exit_code] {
    runtime::run_part_forward(flags->forward);
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
