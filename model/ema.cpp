#include "model/ema.h"

#include <torch/nn/module.h>
#include <torch/torch.h>

#include <algorithm>
#include <stdexcept>

namespace tessera::model {

Ema::Ema(const torch::nn::Module& module, double decay, bool use_num_updates)
    : decay_(decay), use_num_updates_(use_num_updates) {
  if (!(decay >= 0.0 && decay <= 1.0)) throw std::invalid_argument("ema: decay must be in [0, 1]");
  torch::NoGradGuard no_grad;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    names_.push_back(item.key());
    shadows_.push_back(item.value().detach().clone());
  }
}

double Ema::next_decay() const {
  const auto decay = static_cast<float>(decay_);
  if (!use_num_updates_) return decay;
  const int64_t n = num_updates_ + 1;
  return std::min(decay, static_cast<float>(1 + n) / static_cast<float>(10 + n));
}

void Ema::set_num_updates(int64_t num_updates) {
  if (num_updates < 0) throw std::invalid_argument("ema: num_updates must not be negative");
  num_updates_ = num_updates;
}

std::vector<torch::Tensor> Ema::trainable_parameters(const torch::nn::Module& module) const {
  std::vector<torch::Tensor> parameters;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    if (!item.value().requires_grad()) continue;
    const size_t i = parameters.size();
    if (i >= names_.size() || item.key() != names_[i] || item.value().sizes() != shadows_[i].sizes()) {
      throw std::invalid_argument("ema: the module's trainable parameter '" + item.key() +
                                  "' does not match the averaged parameters");
    }
    parameters.push_back(item.value());
  }
  if (parameters.size() != names_.size()) {
    throw std::invalid_argument("ema: the module has " + std::to_string(parameters.size()) +
                                " trainable parameters, the average " + std::to_string(names_.size()));
  }
  return parameters;
}

void Ema::update(const torch::nn::Module& module) {
  const std::vector<torch::Tensor> parameters = trainable_parameters(module);
  // Upstream computes 1 - decay on float32 tensors; keep that rounding.
  const float one_minus_decay = 1.0f - static_cast<float>(next_decay());
  ++num_updates_;
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < shadows_.size(); ++i) {
    shadows_[i].sub_((shadows_[i] - parameters[i]).mul_(static_cast<double>(one_minus_decay)));
  }
}

void Ema::copy_to(torch::nn::Module& module) const {
  const std::vector<torch::Tensor> parameters = trainable_parameters(module);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < shadows_.size(); ++i) parameters[i].copy_(shadows_[i]);
}

void Ema::store(const torch::nn::Module& module) {
  const std::vector<torch::Tensor> parameters = trainable_parameters(module);
  stored_.clear();
  for (const torch::Tensor& parameter : parameters) stored_.push_back(parameter.detach().clone());
}

void Ema::restore(torch::nn::Module& module) {
  if (stored_.empty() && !names_.empty()) throw std::logic_error("ema: restore without a store");
  const std::vector<torch::Tensor> parameters = trainable_parameters(module);
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < stored_.size(); ++i) parameters[i].copy_(stored_[i]);
  stored_.clear();
}

size_t Ema::index_of(const std::string& name) const {
  const auto found = std::find(names_.begin(), names_.end(), name);
  if (found == names_.end()) throw std::out_of_range("ema: no averaged parameter '" + name + "'");
  return static_cast<size_t>(found - names_.begin());
}

const torch::Tensor& Ema::shadow(const std::string& name) const { return shadows_[index_of(name)]; }

void Ema::set_shadow(const std::string& name, const torch::Tensor& value) {
  torch::Tensor& shadow = shadows_[index_of(name)];
  if (value.sizes() != shadow.sizes()) {
    throw std::invalid_argument("ema: shadow '" + name + "' has another shape than the value given");
  }
  torch::NoGradGuard no_grad;
  shadow.copy_(value);
}

}  // namespace tessera::model
