#pragma once

// Fine-tuning a first-stage autoencoder (VQ or KL) on RGB crops: the model
// side of `tessera train-vae`. Torch stays behind this header. One step is
// upstream's generator update without the discriminator (the loss of
// model/autoencoder_loss.h) with Adam, betas (0.5, 0.9), as taming's
// VQModel and LDM's AutoencoderKL configure their autoencoder optimiser.
//
// A checkpoint is two safetensors files (named by runtime/run_folder.h):
//   step-N.safetensors        the weights under the autoencoder's upstream
//                             names without a prefix (encoder.…, decoder.…,
//                             quant_conv.…, post_quant_conv.…, and
//                             quantize.embedding.weight for VQ): what
//                             runtime::load_autoencoder and `tessera encode`
//                             read, and all the model id covers;
//   step-N.train.safetensors  what resuming needs besides the weights:
//     train.optimizer.<p>.exp_avg / .exp_avg_sq / .step   Adam's state per parameter
//     train.step                                          optimiser steps taken (I64)
//     train.generator                                     the CPU generator (KL noise)
//   with metadata "tessera.format" = "vae-training-checkpoint/1" and the
//   caller's entries. Kept apart because load_autoencoder's strict loader
//   refuses keys it does not know, and the model id hashes every tensor.

#include <cstddef>
#include <cstdint>
#include <map>
#include <memory>
#include <string>

#include "config/ldm_limits.h"

namespace tessera::runtime {

struct VaeTrainingOptions {
  std::string config;             // LDM or autoencoder YAML
  std::string weights;            // safetensors, with or without the "first_stage_model." prefix
  std::string perceptual;         // LPIPS (VGG16) safetensors; "" turns the perceptual term off
  double learning_rate = 4.5e-6;  // within (0, config::kMaxLearningRate]
  double max_grad_norm = 0.0;     // clip the gradients' global 2-norm; 0 = off
  uint64_t seed = 0;              // the generator KL's posterior noise is drawn from
  std::string device = "auto";
  int threads = 0;  // CPU intra-op threads; 0 = one per core
};

// What one step measured (model/autoencoder_loss.h).
struct VaeStepLoss {
  double loss = 0;         // the minimised total
  double rec = 0;          // mean |x - x̂|
  double regulariser = 0;  // VQ codebook / commitment, or KL per sample
  double perceptual = 0;   // mean LPIPS; 0 when off
  double learning_rate = 0;
  double grad_norm = 0;  // before clipping
};

class VaeTrainer {
 public:
  // Loads and checks the config, the weights (runtime/model_loading.h) and the
  // perceptual network, and places them: every file error is thrown here.
  explicit VaeTrainer(const VaeTrainingOptions& options);
  ~VaeTrainer();
  VaeTrainer(const VaeTrainer&) = delete;
  VaeTrainer& operator=(const VaeTrainer&) = delete;

  const std::string& initial_model_id() const;  // of the weights it was built from
  const std::string& architecture() const;      // "vq" or "kl"
  int resolution() const;                       // the config's training resolution
  int downsample() const;                       // pixels per latent cell
  bool perceptual() const;
  bool on_gpu() const;
  int64_t step_count() const;

  // One optimiser step on `count` RGB crops of side x side, HWC 8-bit,
  // contiguous, scaled to [-1, 1] as LDM's loaders do.
  VaeStepLoss step(const uint8_t* pixels, size_t count, int side);

  // Writes the weights, and the resumable state, each atomically.
  void save_weights(const std::string& path) const;
  void save_state(const std::string& path, const std::map<std::string, std::string>& metadata) const;
  // Loads weights written by save_weights and the state written by
  // save_state, both checked completely before anything changes; returns the
  // state's caller metadata. Throws model::WeightsError naming the file.
  std::map<std::string, std::string> resume(const std::string& weights_path, const std::string& state_path);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
