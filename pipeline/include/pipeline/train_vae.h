#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "pipeline/progress.h"

namespace tessera::pipeline {

struct TrainVaeOptions {
  std::filesystem::path store;
  std::string config;             // LDM or autoencoder YAML (VQ or KL first stage)
  std::string init_weights;       // safetensors, with or without "first_stage_model."
  std::filesystem::path out;      // the run directory
  int64_t steps = 1000;           // optimiser steps the run ends at
  int64_t batch = 4;              // crops per step
  double learning_rate = 4.5e-6;  // used as given (upstream's main.py scales its base rate by the batch)
  double max_grad_norm = 0.0;     // 0 = no clipping
  uint64_t seed = 0;
  bool resume = false;
  std::string perceptual_weights;  // LPIPS (VGG16) safetensors; "" = no perceptual term
  std::string device = "auto";
  int threads = 0;
  int64_t checkpoint_every = 1000;  // steps between checkpoints; the last step always writes one
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct TrainVaeSummary {
  std::filesystem::path run;
  std::string architecture;      // "vq" or "kl"
  std::string initial_model_id;  // of --init-weights
  std::string model_id;          // of RUN/vae.safetensors; "" until the run reaches --steps
  int64_t first_step = 0;        // where this invocation started (0, or the resumed step)
  int64_t steps = 0;             // optimiser steps done, in total
  double first_loss = 0;         // of this invocation's first and last steps
  double last_loss = 0;
  uint64_t tiles = 0;      // tiles trained on
  int crop = 0;            // crop side in pixels
  std::string checkpoint;  // the newest weights checkpoint
  double seconds = 0;
  bool interrupted = false;
};

// Fine-tunes a first-stage autoencoder on the pixels of every tile of the
// store's complete slides (docs/TRAIN_VAE.md): per epoch a seeded shuffle;
// per sample a random crop to the config's resolution and random flips, fixed
// by (seed, epoch, tile); reconstruction L1 plus the VQ codebook or KL term
// and optionally LPIPS; Adam (0.5, 0.9). RUN gets
// checkpoints/step-N.safetensors (+ .train.safetensors), loss.csv, loss.png,
// and, once --steps is reached, vae.safetensors and run.json. --resume
// continues from the newest checkpoint exactly (bit-identical on the CPU);
// without it a non-empty RUN is refused. SIGINT writes a checkpoint and
// stops. Everything that can be checked is checked before RUN is written:
// throws tessera::Error or model::WeightsError naming the file.
TrainVaeSummary run_train_vae(const TrainVaeOptions& options);

}  // namespace tessera::pipeline
