#pragma once

// The whole state of an LdmTrainer in one safetensors file, so that a run
// stopped after step k and resumed from the file continues exactly as if it
// had not stopped (bit-identical losses and weights on the CPU). Tensors, for
// each parameter (and buffer) <p> of the denoiser:
//   model.diffusion_model.<p>              the weights to sample with: the EMA
//                                          when the trainer keeps one, else the
//                                          trained weights (upstream LDM's
//                                          names: load_weights with prefix
//                                          "model.diffusion_model." reads them)
//   train.model.diffusion_model.<p>        the trained (raw) weights; only with EMA
//   train.optimizer.<p>.exp_avg            AdamW's first moment
//   train.optimizer.<p>.exp_avg_sq         AdamW's second moment
//   train.optimizer.<p>.step               AdamW's step count for <p> (I64 scalar)
// and once:
//   train.step                             optimiser steps taken (I64 scalar)
//   train.ema_num_updates                  the EMA's update count (I64 scalar; only with EMA)
//   train.generator                        the trainer's CPU generator state (U8)
// The safetensors metadata holds "tessera.format" = "training-checkpoint/1",
// "tessera.ema" = "on" or "off", and the caller's entries (e.g. the data
// cursor and manifest ids), whose keys must not start with "tessera.".
// Options (learning rate, betas, decay, seed) are the caller's configuration
// and are not stored.

#include <map>
#include <string>

namespace tessera::model {

class LdmTrainer;

// Writes the trainer's state to `path` (under a temporary name, then renamed
// into place). Throws std::invalid_argument for a reserved metadata key and
// WeightsError when the file cannot be written.
void save_training_checkpoint(const std::string& path, const LdmTrainer& trainer,
                              const std::map<std::string, std::string>& metadata = {});

// Restores a trainer built with the same denoiser config and options from
// `path` and returns the caller's metadata. Every tensor is checked (present,
// shape, dtype; no unexpected keys) before anything changes: a truncated,
// foreign or mismatched file throws one WeightsError naming the file and each
// offending key, and leaves the trainer as it was.
std::map<std::string, std::string> load_training_checkpoint(const std::string& path, LdmTrainer& trainer);

}  // namespace tessera::model
