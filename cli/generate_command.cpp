#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "config/ldm_limits.h"
#include "dataset/synthetic_set.h"
#include "flag_checks.h"
#include "model_commands.h"
#include "pipeline/generate.h"
#include "pipeline/progress.h"
#include "run_flags.h"
#include "runtime/image_sampler.h"

namespace tessera::cli {

void add_generate_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::GenerateOptions options;
    std::string progress = "auto";
    RunFlags run;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = add_subcommand(app, kGenerateCommand);
  auto& o = flags->options;
  auto* run = cmd->add_option("--run", o.run, "Training run folder (run.json, config.yaml, checkpoints/)")
                  ->check(CLI::ExistingDirectory);
  cmd->add_option("--checkpoint", o.checkpoint, "Checkpoint of the run (default: its highest step)")
      ->check(CLI::ExistingFile)
      ->needs(run);
  auto* config = cmd->add_option("--config", o.config, "LDM YAML (instead of --run)")->check(CLI::ExistingFile);
  auto* weights = cmd->add_option("--weights", o.weights, "Full LDM checkpoint, safetensors (with --config)")
                      ->check(CLI::ExistingFile);
  config->needs(weights)->excludes(run);
  weights->needs(config)->excludes(run);
  auto* prompts = cmd->add_option("--prompts", o.prompts, "Prompts: .txt (one per line) or .csv (tumor,til,summary)")
                      ->check(CLI::ExistingFile);
  auto* from_store =
      cmd->add_option("--from-store", o.from_store, "Draw prompts as often as the store's tiles use them")
          ->check(CLI::ExistingDirectory)
          ->excludes(prompts);
  cmd->add_option("--balance", o.balance, "With --from-store: as many images per value of this field")
      ->check(CLI::IsMember({"tumor", "til"}))
      ->needs(from_store);
  cmd->add_option("--n", o.n, "Images in --out when done")
      ->required()
      ->check(number_within<uint64_t>(1, stages::kMaxSyntheticImages));
  auto* steps = cmd->add_option("--steps", o.steps, "DDIM steps (at most the schedule's timesteps)")
                    ->capture_default_str()
                    ->check(number_within(1, int(config::kMaxTimesteps)));
  cmd->add_option("--sampler", o.sampler, "ddim, or ddpm (every timestep of the schedule)")
      ->check(CLI::IsMember({"ddim", "ddpm"}))
      ->capture_default_str();
  cmd->add_option("--eta", o.eta, "DDIM's eta (0: deterministic given the seed)")
      ->capture_default_str()
      ->check(number_within(0.0, config::kMaxDdimEta));
  cmd->add_option("--guidance", o.guidance, "Classifier-free guidance scale (1: off)")
      ->capture_default_str()
      ->check(number_within(0.0, config::kMaxGuidance));
  cmd->add_option("--seed", o.seed, "Seed of the noise and of the prompt draw")
      ->capture_default_str()
      ->check(any_seed());
  add_batch_flag(cmd, o.batch, "Images per sampler call");
  cmd->add_option("--out", o.out, "Output folder (a rerun with the same settings continues it)")->required();
  cmd->add_option("--format", o.format, "Image format: png, or jpeg (quality 90)")
      ->check(CLI::IsMember({"png", "jpeg"}))
      ->capture_default_str();
  add_run_flags(cmd, flags->run, /*stores_tensors=*/false);
  add_clip_vocab_flag(cmd, o.clip_vocab, "--prompts");
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the summary as JSON on stdout");
  cmd->callback([flags, steps, &exit_code] {
    auto& o = flags->options;
    o.steps_given = steps->count() > 0;
    o.device = flags->run.device;
    o.compute_dtype = flags->run.dtype;
    o.threads = flags->run.threads;
    o.progress = pipeline::parse_progress_display(flags->progress);
    const auto s = pipeline::run_generate(o);
    if (flags->json) {
      std::cout
          << nlohmann::json{{"out", s.out.string()},
                            {"requested", s.requested},
                            {"present", s.present},
                            {"generated", s.generated},
                            {"batches", s.batches},
                            {"model_ids",
                             {{"unet", s.unet_id}, {"first_stage", s.first_stage_id}, {"cond_stage", s.cond_stage_id}}},
                            {"checkpoint", s.checkpoint},
                            {"prompts", s.prompts},
                            {"seconds", s.seconds},
                            {"load_seconds", s.load_seconds},
                            {"unet_seconds", s.unet_seconds},
                            {"interrupted", s.interrupted}}
                 .dump(2)
          << '\n';
    }
    std::cerr << "generate: " << s.generated << " images made, " << s.present << " already there, of " << s.requested
              << " in " << s.out.string() << ", in " << pipeline::format_duration(s.seconds);
    if (s.generated > 0) {
      const double sampling = s.seconds - s.load_seconds;
      std::cerr << " (" << pipeline::format_duration(s.load_seconds) << " loading, then "
                << double(s.generated) / sampling << " images/s, the UNet " << int(100 * s.unet_seconds / sampling)
                << "% of that)";
    }
    std::cerr << '\n';
    exit_code = s.interrupted ? kExitInterrupted : kExitOk;
  });
}

}  // namespace tessera::cli
