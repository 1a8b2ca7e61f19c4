#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "model_commands.h"
#include "pipeline/progress.h"
#include "pipeline/train.h"
#include "run_flags.h"
#include "runtime/model_batch.h"

namespace tessera::cli {

void add_train_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::TrainOptions options;
    std::string progress = "auto";
    RunFlags run;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kTrainCommand);
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--config", o.config, "LDM YAML with the UNet, schedule and training settings (not with --resume)")
      ->check(CLI::ExistingFile);
  cmd->add_option("--vae-model", o.vae_model_id, "First-stage model id whose latents train (tessera info)")->required();
  cmd->add_option("--text-model", o.text_model_id, "Text-encoder model id whose embeddings condition")->required();
  cmd->add_option("--out", o.out, "Run directory")->required();
  add_training_steps_flag(cmd, o.steps);
  cmd->add_option("--batch", o.batch, "Samples per micro-batch and process (default: the config's)")
      ->check(number_within<int64_t>(1, runtime::kMaxModelBatch));
  cmd->add_option("--seed", o.seed, "Seed of initialisation, data order, dropout, flips and noise")
      ->capture_default_str()
      ->check(any_seed());
  cmd->add_option("--init-weights", o.init_weights, "Start the denoiser from these weights (LDM checkpoint or UNet)")
      ->check(CLI::ExistingFile);
  cmd->add_flag("--resume", o.resume, "Continue the run in --out from its newest checkpoint");
  add_run_flags(cmd, flags->run, /*stores_tensors=*/false);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the summary as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    if (o.config.empty() && !o.resume) throw Error("--config is required for a new run");
    o.device = flags->run.device;
    o.dtype = flags->run.dtype;
    o.threads = flags->run.threads;
    o.progress = pipeline::parse_progress_display(flags->progress);
    const auto s = pipeline::run_train(o);
    if (s.rank != 0) {
      exit_code = s.interrupted ? kExitInterrupted : kExitOk;
      return;
    }
    if (flags->json) {
      std::cout << nlohmann::json{{"run", s.run.string()},       {"first_step", s.first_step}, {"steps", s.steps},
                                  {"first_loss", s.first_loss},  {"last_loss", s.last_loss},   {"samples", s.samples},
                                  {"world_size", s.world_size},  {"checkpoint", s.checkpoint}, {"seconds", s.seconds},
                                  {"interrupted", s.interrupted}}
                       .dump(2)
                << '\n';
    }
    std::cerr << "train: steps " << s.first_step << " to " << s.steps << " on " << s.samples << " samples ("
              << s.world_size << " processes), loss " << s.first_loss << " -> " << s.last_loss << ", in "
              << pipeline::format_duration(s.seconds) << "; checkpoint " << s.checkpoint << '\n';
    if (s.interrupted) std::cerr << "train: interrupted; rerun with --resume to continue\n";
    exit_code = s.interrupted ? kExitInterrupted : kExitOk;
  });
}

}  // namespace tessera::cli
