#include <CLI/CLI.hpp>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/ldm_limits.h"
#include "model_commands.h"
#include "pipeline/progress.h"
#include "pipeline/train_vae.h"
#include "run_flags.h"
#include "runtime/vae_training.h"

namespace tessera::cli {

void add_train_vae_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::TrainVaeOptions options;
    std::string progress = "auto";
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kTrainVaeCommand);
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--config", o.config, "LDM or autoencoder YAML")->required()->check(CLI::ExistingFile);
  cmd->add_option("--init-weights", o.init_weights, "Weights to start from (safetensors; LDM checkpoint or VAE alone)")
      ->required()
      ->check(CLI::ExistingFile);
  cmd->add_option("--out", o.out, "Run directory (must be empty unless --resume)")->required();
  add_training_steps_flag(cmd, o.steps);
  add_batch_flag(cmd, o.batch, "Crops per step");
  cmd->add_option("--lr", o.learning_rate, "Adam learning rate, used as given")
      ->capture_default_str()
      ->check(positive_up_to(config::kMaxLearningRate));
  cmd->add_option("--clip-grad", o.max_grad_norm, "Clip the gradients' global 2-norm to this (0 = off)")
      ->capture_default_str()
      ->check(number_within(0.0, std::numeric_limits<double>::max()));
  cmd->add_option("--seed", o.seed, "Seed of the data order, crops, flips and KL noise")
      ->capture_default_str()
      ->check(any_seed());
  cmd->add_flag("--resume", o.resume, "Continue the run in --out from its newest checkpoint");
  cmd->add_option("--perceptual-weights", o.perceptual_weights,
                  "LPIPS (VGG16) safetensors with the lpips package's names; without it the perceptual term is off")
      ->check(CLI::ExistingFile);
  cmd->add_option("--device", o.device, "auto (CUDA when present), cpu, cuda or cuda:N")->capture_default_str();
  add_threads_flag(cmd, o.threads);
  cmd->add_option("--checkpoint-every", o.checkpoint_every,
                  "Steps between checkpoints (the last step always writes one)")
      ->capture_default_str()
      ->check(number_within<int64_t>(1, std::numeric_limits<int64_t>::max()));
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the summary as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    o.progress = pipeline::parse_progress_display(flags->progress);
    const auto s = pipeline::run_train_vae(o);
    if (flags->json) {
      std::cout << nlohmann::json{{"run", s.run.string()},
                                  {"architecture", s.architecture},
                                  {"init_model_id", s.initial_model_id},
                                  {"model_id", s.model_id},
                                  {"first_step", s.first_step},
                                  {"steps", s.steps},
                                  {"first_loss", s.first_loss},
                                  {"last_loss", s.last_loss},
                                  {"tiles", s.tiles},
                                  {"crop", s.crop},
                                  {"checkpoint", s.checkpoint},
                                  {"seconds", s.seconds},
                                  {"interrupted", s.interrupted}}
                       .dump(2)
                << '\n';
    }
    if (s.interrupted) {
      std::cerr << "train-vae: interrupted at step " << s.steps << "; "
                << (s.checkpoint.empty() ? "no checkpoint yet" : "checkpoint " + s.checkpoint)
                << "; rerun with --resume to continue\n";
      exit_code = kExitInterrupted;
      return;
    }
    std::cerr << "train-vae: " << s.architecture << " autoencoder trained to step " << s.steps << " (from "
              << s.first_step << ") on " << s.tiles << " tiles in " << pipeline::format_duration(s.seconds) << '\n'
              << "train-vae: new model id " << s.model_id << " (was " << s.initial_model_id << ")\n"
              << "train-vae: re-encode the store with: tessera encode --store " << o.store.string() << " --vae-config "
              << o.config << " --vae-weights " << (s.run / "vae.safetensors").string() << '\n';
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
