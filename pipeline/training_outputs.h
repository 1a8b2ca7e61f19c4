#pragma once

// What a training run leaves for people to look at, written by rank 0 only:
// loss.csv (one row per optimiser step), loss.png, and sample grids.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include "store/tensor_record.h"

namespace tessera::pipeline {

struct LossRow {
  int64_t step = 0;  // optimiser steps done after this one (1 for the first)
  uint64_t epoch = 0;
  double loss = 0;  // mean over the step's samples and processes
  double learning_rate = 0;
  double grad_norm = 0;  // global 2-norm before clipping
};

// What a sample grid shows: the same prompts and starting noise at every
// step it is drawn, so that grids of one run compare.
struct SampleGridSpec {
  std::string config;  // the run's LDM YAML
  std::string vae_config;
  std::string vae_weights;
  std::string device = "auto";
  int threads = 0;
  int steps = 20;  // DDIM
  double guidance = 1.5;
  std::vector<store::TensorRecord> contexts;  // one image each
  store::TensorRecord unconditional;
};

class TrainingOutputs {
 public:
  TrainingOutputs(std::filesystem::path run, bool writes);

  // A resumed run keeps the rows up to its checkpoint's step and drops any
  // written after it, so loss.csv never holds a step twice.
  void resume_at(int64_t step);
  void record_loss(const LossRow& row);
  // loss.png from loss.csv; a failure is a warning.
  void plot_losses() const;

  void set_sample_grid(SampleGridSpec spec) { grid_ = std::move(spec); }
  // samples/step-N.png from the checkpoint's sampling (EMA) weights. A grid
  // that cannot be drawn (say, the VAE's weights were moved) is a warning:
  // the run goes on.
  void sample_grid(const std::string& checkpoint, int64_t step) const;

 private:
  void draw_losses() const;

  std::filesystem::path run_;
  bool writes_;
  SampleGridSpec grid_;
};

}  // namespace tessera::pipeline
