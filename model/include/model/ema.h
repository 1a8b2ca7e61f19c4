#pragma once

// Exponential moving average of a module's parameters, as CompVis
// latent-diffusion's LitEma (ldm/modules/ema.py). Per update, with n the
// number of updates so far including this one:
//   decay = min(decay, (1 + n) / (10 + n))   (use_num_updates; else decay)
//   shadow = shadow - (1 - decay) * (shadow - param)
// The decay and 1 - decay are float32, as upstream's buffers make them. Only
// parameters that require gradients have a shadow; the shadows live on the
// parameters' devices and are named as module.named_parameters() names them.

#include <torch/types.h>

#include <cstdint>
#include <string>
#include <vector>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tessera::model {

class Ema {
 public:
  // Shadows start as copies of the module's trainable parameters. Throws
  // std::invalid_argument for a decay outside [0, 1].
  explicit Ema(const torch::nn::Module& module, double decay = 0.9999, bool use_num_updates = true);

  // One averaging step towards the module's current parameters. Throws
  // std::invalid_argument when the module's trainable parameters are not the
  // ones the shadows were made from (names or shapes).
  void update(const torch::nn::Module& module);
  // Copies the shadows into the module's parameters (e.g. before sampling or export).
  void copy_to(torch::nn::Module& module) const;
  // store keeps a copy of the module's trainable parameters and restore puts
  // it back: store, copy_to, sample, restore.
  void store(const torch::nn::Module& module);
  void restore(torch::nn::Module& module);

  double decay() const { return decay_; }
  bool use_num_updates() const { return use_num_updates_; }
  // The decay the next update will use.
  double next_decay() const;
  int64_t num_updates() const { return num_updates_; }
  void set_num_updates(int64_t num_updates);

  const std::vector<std::string>& names() const { return names_; }
  // The shadow of parameter `name`; throws std::out_of_range naming it when absent.
  const torch::Tensor& shadow(const std::string& name) const;
  // Copies `value` (same shape; any device and floating dtype) into the shadow of `name`.
  void set_shadow(const std::string& name, const torch::Tensor& value);

 private:
  size_t index_of(const std::string& name) const;
  std::vector<torch::Tensor> trainable_parameters(const torch::nn::Module& module) const;

  double decay_;
  bool use_num_updates_;
  int64_t num_updates_ = 0;
  std::vector<std::string> names_;
  std::vector<torch::Tensor> shadows_;
  std::vector<torch::Tensor> stored_;
};

}  // namespace tessera::model
