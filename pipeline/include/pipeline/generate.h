#pragma once

#include <cstddef>
#include <cstdint>
#include <filesystem>
#include <string>

#include "pipeline/progress.h"

namespace tessera::pipeline {

struct GenerateOptions {
  // The model: a training run folder (RUN/run.json, RUN/config.yaml,
  // RUN/checkpoints/step-NNNNNNNN.safetensors) with an optional checkpoint
  // (default: the highest step), or one LDM config and one full checkpoint
  // holding all three parts. Exactly one of `run` and `config` + `weights`.
  std::filesystem::path run;
  std::filesystem::path checkpoint;
  std::filesystem::path config;
  std::filesystem::path weights;
  // The prompts: a .txt (one per line, verbatim) or .csv (tumor, til,
  // summary columns, composed with the run's template) file, cycled in file
  // order; or a store's own distribution. Exactly one of the two.
  std::filesystem::path prompts;
  std::filesystem::path from_store;
  // With from_store: "tumor" or "til" gives each value of that field (low,
  // medium, high) an equal share of the images. Default: "" (the store's mix).
  std::string balance;
  uint64_t n = 0;                // images in OUT when the run is done
  std::string sampler = "ddim";  // ddim | ddpm. Default: ddim.
  int steps = 50;                // DDIM steps; DDPM runs every timestep of the schedule. Default: 50.
  bool steps_given = false;      // whether the user chose `steps`, which DDPM refuses
  double eta = 0.0;              // Default: 0.
  double guidance = 1.5;         // Default: 1.5.
  uint64_t seed = 0;             // Default: 0.
  size_t batch = 8;              // images per sampler call. Default: 8.
  std::filesystem::path out;
  std::string format = "png";  // png | jpeg (quality 90). Default: png.
  std::string device = "auto";
  std::string compute_dtype = "fp32";
  int threads = 0;
  // CLIP BPE vocabulary for prompt files; default $TESSERA_CLIP_VOCAB.
  std::string clip_vocab;
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct GenerateSummary {
  std::filesystem::path out;
  uint64_t requested = 0;  // n
  uint64_t present = 0;    // images OUT held before the run
  uint64_t generated = 0;  // images written by this run
  uint64_t batches = 0;    // sampler calls made by this run
  std::string unet_id, first_stage_id, cond_stage_id;
  std::string checkpoint;  // the denoiser's weights file
  size_t prompts = 0;      // distinct prompts drawn from
  double seconds = 0;
  // Of which loading and checking the models, prompts and contexts, before
  // the first batch.
  double load_seconds = 0;
  // Wall time inside the UNet's forward passes: unet_seconds / seconds is
  // the share of the run the denoiser took.
  double unet_seconds = 0;
  bool interrupted = false;
};

// Generates images [0, n) into OUT (see docs/GENERATE.md):
//
//   batch source (serial: the next batch with an image missing from the manifest)
//     -> limiter (2 batches in flight)
//     -> sampler (serial: UNet + sampler + VAE decode, on the GPU when there is one)
//     -> writer (serial node; images of a batch written in parallel, then its manifest rows)
//
// Image i's prompt and noise depend only on the settings and i, and batch b
// always covers [b * batch, (b + 1) * batch) ∩ [0, n), so a run that is
// killed or interrupted (SIGINT stops after the batches in flight) and rerun
// ends with the files a single run writes. OUT/generate.json holds the
// settings; a rerun with other settings is refused. Models, prompts and OUT
// are checked before any image is made. Throws tessera::Error.
GenerateSummary run_generate(const GenerateOptions& options);

}  // namespace tessera::pipeline
