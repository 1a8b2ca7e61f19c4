#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <string>

#include "pipeline/progress.h"

namespace tessera::pipeline {

struct TrainOptions {
  std::filesystem::path store;
  // LDM YAML: the UNet, the diffusion schedule and the training settings
  // (config/ldm_config.h TrainingParams). On --resume the run's own copy is
  // used; a different --config is refused.
  std::filesystem::path config;
  std::filesystem::path out;     // the run directory
  std::string vae_model_id;      // whose latents train
  std::string text_model_id;     // whose embeddings condition
  int64_t steps = 1000;          // optimiser steps the run ends at
  std::optional<int64_t> batch;  // overrides training.batch_size
  uint64_t seed = 0;
  bool resume = false;
  // Starts the denoiser from these weights (an LDM checkpoint or the UNet
  // alone) instead of upstream's initialisation. Default: none.
  std::string init_weights;
  std::string device = "auto";
  std::string dtype = "fp32";  // bf16 / fp16 autocast on a GPU
  int threads = 0;
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct TrainSummary {
  std::filesystem::path run;
  int64_t first_step = 0;  // where this invocation started (0, or the resumed step)
  int64_t steps = 0;       // optimiser steps done, in total
  double first_loss = 0;
  double last_loss = 0;
  uint64_t samples = 0;  // (latent, prompt) pairs in the store
  int64_t rank = 0;
  int64_t world_size = 1;
  std::string checkpoint;  // the newest
  double seconds = 0;
  bool interrupted = false;
};

// Trains the LDM's denoiser on the store's latents and prompt embeddings:
// ε- (or v-) prediction with the config's β schedule, AdamW with warm-up,
// gradient clipping and accumulation, EMA, unbiased classifier-free-guidance
// dropout and latent flips, all fixed by the seed (docs/TRAINING.md). Under
// torchrun's environment several processes train one model over c10d. The
// run directory gets run.json, config.yaml, loss.csv, loss.png,
// checkpoints/step-N.safetensors and samples/step-N.png; an interrupted run
// resumes exactly (SIGINT writes a checkpoint first). Throws tessera::Error
// for what stops the run before it starts.
TrainSummary run_train(const TrainOptions& options);

}  // namespace tessera::pipeline
