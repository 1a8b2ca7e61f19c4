#pragma once

// The torch side of `tessera train`: the LDM's denoiser, its diffusion
// process and its optimiser (model/trainer.h), placed on this process's
// device and trained on the store's latents (runtime/latent_samples.h), in
// one process or, under torchrun's environment, in several over c10d, each
// on its slice of every global batch (runtime/training_samples.h). A
// checkpoint is one file holding the whole training state
// (model/training_checkpoint.h) with the run's settings as its metadata.

#include <cstdint>
#include <filesystem>
#include <memory>
#include <string>

#include "config/ldm_config.h"
#include "runtime/run_folder.h"

namespace tessera::runtime {

class LatentSamples;

struct LdmTrainingOptions {
  std::filesystem::path config_path;  // named in errors
  config::LdmConfig config;           // with a unet_config; its training block as the run trains
  std::string init_weights;           // an LDM checkpoint or the UNet alone; "": upstream's initialisation
  uint64_t seed = 0;
  std::string device = "auto";
  std::string dtype = "fp32";  // bf16 autocast on a GPU
  int threads = 0;             // CPU intra-op threads; 0 = one per core
};

// Whether this process is the main one, rank 0 of those torchrun's
// environment describes, or the only one: the one that writes the run folder,
// known before LdmTraining is built. Throws std::invalid_argument naming a
// torchrun variable that is malformed, as LdmTraining would.
bool main_training_process();

// What one optimiser step measured.
struct LdmStepLoss {
  uint64_t epoch = 0;  // of the step's first sample
  double loss = 0;     // mean over the step's samples and processes
  double learning_rate = 0;
  double grad_norm = 0;  // global 2-norm before clipping
};

class LdmTraining {
 public:
  // Joins the process group torchrun's environment describes, checks that
  // the device runs the precision and that the samples fit the UNet, and
  // builds the denoiser, the same on every process. Throws tessera::Error
  // naming the config or the device, model::WeightsError naming init weights
  // that do not fit, std::runtime_error when the process group cannot form.
  LdmTraining(const LdmTrainingOptions& options, const LatentSamples& samples);
  ~LdmTraining();
  LdmTraining(const LdmTraining&) = delete;
  LdmTraining& operator=(const LdmTraining&) = delete;

  int64_t rank() const;
  int64_t world_size() const;
  bool main_process() const { return rank() == 0; }
  // Samples per optimiser step, over every process.
  int64_t global_batch() const;
  std::string device() const;   // "cpu", "cuda:0", ...
  std::string backend() const;  // "gloo", "nccl", or "none" for one process
  int64_t step_count() const;

  // Restores the state saved at `checkpoint`, checked whole before anything
  // changes. Throws model::WeightsError naming the file and each key at fault.
  void resume(const std::filesystem::path& checkpoint);
  // Writes the whole state with `settings` as its metadata; only the main
  // process writes. Throws model::WeightsError naming the file.
  void save(const std::filesystem::path& checkpoint, const RunSettings& settings) const;
  // One optimiser step on this process's share of step step_count()'s
  // samples. Throws tessera::Error for a sample missing from the store.
  LdmStepLoss step();
  // Whether any process was asked to stop: every process calls it once a
  // step, so that all take the same number of steps.
  bool any_process_stopping(bool stop_requested);
  // Waits for every process.
  void barrier();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
