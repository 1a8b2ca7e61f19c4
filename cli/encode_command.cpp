#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "model_commands.h"
#include "pipeline/encode.h"
#include "pipeline/encode_text.h"
#include "pipeline/progress.h"
#include "run_flags.h"

namespace tessera::cli {

void add_encode_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::EncodeOptions options;
    std::string config, weights, progress = "auto", shard;
    RunFlags run;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kEncodeCommand);
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--vae-config", flags->config, "LDM or autoencoder YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--vae-weights", flags->weights, "safetensors file or *.safetensors.index.json")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o.out,
                  "Write the latents into this store (created if absent) and only read --store: one task's part of a "
                  "re-encode, for tessera merge");
  add_shard_flag(cmd, flags->shard);
  add_batch_flag(cmd, o.batch, "Tiles per forward pass");
  add_jobs_flag(cmd, o.jobs, "JPEG decoders");
  add_run_flags(cmd, flags->run);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the summary as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    o.encoder = encoder_options<runtime::LatentEncoderOptions>(flags->config, flags->weights, flags->run);
    o.progress = pipeline::parse_progress_display(flags->progress);
    o.shard = shard_of_flag(flags->shard);
    const auto s = pipeline::run_encode(o);
    if (flags->json) {
      nlohmann::json failures = nlohmann::json::array();
      for (const auto& [slide, error] : s.failures) failures.push_back({{"slide", slide}, {"error", error}});
      std::cout << nlohmann::json{{"model_id", s.model_id},
                                  {"shard", s.shard},
                                  {"slides_in_other_shards", s.slides_in_other_shards},
                                  {"slides", s.slides},
                                  {"slides_encoded", s.slides_encoded},
                                  {"tiles", s.tiles},
                                  {"tiles_present", s.tiles_present},
                                  {"tiles_encoded", s.tiles_encoded},
                                  {"failures", failures},
                                  {"seconds", s.seconds},
                                  {"model_seconds", s.model_seconds},
                                  {"interrupted", s.interrupted}}
                       .dump(2)
                << '\n';
    }
    std::cerr << "encode: model " << s.model_id << ": " << s.tiles_encoded << " tiles encoded, " << s.tiles_present
              << " already had latents, of " << s.tiles << " tiles in " << s.slides << " complete slides, in "
              << pipeline::format_duration(s.seconds) << '\n';
    for (const auto& [slide, error] : s.failures) std::cerr << "encode: FAILED " << slide << ": " << error << '\n';
    exit_code = s.interrupted ? kExitInterrupted : s.failures.empty() ? kExitOk : kExitSlidesFailed;
  });
}

void add_encode_text_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::EncodeTextOptions options;
    std::string config, weights, progress = "auto";
    RunFlags run;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kEncodeTextCommand);
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--text-config", flags->config, "LDM YAML with a cond_stage_config, or a CLIPTextConfig .json")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--text-weights", flags->weights, "safetensors file or *.safetensors.index.json")
      ->required()
      ->check(CLI::ExistingFile);
  add_batch_flag(cmd, o.batch, "Prompts per forward pass");
  add_run_flags(cmd, flags->run);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the summary as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    o.encoder = encoder_options<runtime::TextEncoderOptions>(flags->config, flags->weights, flags->run);
    o.progress = pipeline::parse_progress_display(flags->progress);
    const auto s = pipeline::run_encode_text(o);
    if (flags->json) {
      std::cout << nlohmann::json{{"model_id", s.model_id},      {"empty_prompt_id", s.empty_prompt_id},
                                  {"prompts", s.prompts},        {"present", s.present},
                                  {"encoded", s.encoded},        {"seconds", s.seconds},
                                  {"interrupted", s.interrupted}}
                       .dump(2)
                << '\n';
    }
    std::cerr << "encode-text: model " << s.model_id << ": " << s.encoded << " prompts embedded, " << s.present
              << " already were, of " << s.prompts << " (the empty prompt included), in "
              << pipeline::format_duration(s.seconds) << '\n';
    exit_code = s.interrupted ? kExitInterrupted : kExitOk;
  });
}

}  // namespace tessera::cli
