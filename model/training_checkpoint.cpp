#include "model/training_checkpoint.h"

#include <torch/torch.h>

#include <memory>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>
#include <vector>

#include "model/optimizer_state.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "model/trainer.h"
#include "model/unet.h"

namespace tessera::model {
namespace {

constexpr const char* kFormatKey = "tessera.format";
constexpr const char* kFormat = "training-checkpoint/1";
constexpr const char* kEmaKey = "tessera.ema";
constexpr const char* kReservedPrefix = "tessera.";
const std::string kModelPrefix = "model.diffusion_model.";
const std::string kRawPrefix = "train.model.diffusion_model.";
const std::string kOptimizerPrefix = "train.optimizer.";
const std::string kStepKey = "train.step";
const std::string kEmaUpdatesKey = "train.ema_num_updates";
const std::string kGeneratorKey = "train.generator";

torch::Tensor int64_scalar(int64_t value) { return torch::tensor(value, torch::kInt64).reshape({}); }

// The module's parameters and then its buffers, by name.
std::vector<std::pair<std::string, torch::Tensor>> named_state(const torch::nn::Module& module) {
  std::vector<std::pair<std::string, torch::Tensor>> state;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) state.emplace_back(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) state.emplace_back(item.key(), item.value());
  return state;
}

// What a checkpoint of `trainer` holds, key by key: the tensor to store (its
// shape and dtype are what a file must have) and where a stored value goes.
struct Entry {
  enum class Target { kTensor, kShadow, kExpAvg, kExpAvgSq, kAdamStep, kStep, kEmaUpdates, kGenerator, kNone };
  std::string key;
  torch::Tensor value;
  Target target = Target::kNone;
  std::string name;      // the parameter, for kShadow and the optimiser's entries
  torch::Tensor tensor;  // the parameter or buffer, for kTensor and the optimiser's entries
};

std::vector<Entry> entries(const LdmTrainer& trainer) {
  using Target = Entry::Target;
  std::vector<Entry> list;
  const Ema* ema = trainer.ema();
  for (const auto& [name, tensor] : named_state(trainer.unet())) {
    if (ema == nullptr) {
      list.push_back({kModelPrefix + name, tensor, Target::kTensor, name, tensor});
      continue;
    }
    list.push_back({kRawPrefix + name, tensor, Target::kTensor, name, tensor});
    if (tensor.requires_grad()) {
      list.push_back({kModelPrefix + name, ema->shadow(name), Target::kShadow, name, tensor});
    } else {
      list.push_back({kModelPrefix + name, tensor, Target::kNone, name, tensor});
    }
  }
  for (const auto& item : trainer.unet().named_parameters(/*recurse=*/true)) {
    const torch::Tensor& parameter = item.value();
    const std::string prefix = kOptimizerPrefix + item.key();
    const torch::optim::AdamWParamState* state =
        find_parameter_state<torch::optim::AdamWParamState>(trainer.optimizer(), parameter);
    const torch::Tensor zeros = state ? torch::Tensor() : torch::zeros_like(parameter);
    list.push_back({prefix + ".exp_avg", state ? state->exp_avg() : zeros, Target::kExpAvg, item.key(), parameter});
    list.push_back(
        {prefix + ".exp_avg_sq", state ? state->exp_avg_sq() : zeros, Target::kExpAvgSq, item.key(), parameter});
    list.push_back(
        {prefix + ".step", int64_scalar(state ? state->step() : 0), Target::kAdamStep, item.key(), parameter});
  }
  list.push_back({kStepKey, int64_scalar(trainer.step_count()), Target::kStep, {}, {}});
  if (ema != nullptr) list.push_back({kEmaUpdatesKey, int64_scalar(ema->num_updates()), Target::kEmaUpdates, {}, {}});
  list.push_back({kGeneratorKey, trainer.generator().get_state(), Target::kGenerator, {}, {}});
  return list;
}

void restore(const Entry& entry, const torch::Tensor& stored, LdmTrainer& trainer) {
  using Target = Entry::Target;
  switch (entry.target) {
    case Target::kTensor:
      entry.tensor.copy_(stored);
      break;
    case Target::kShadow:
      trainer.ema()->set_shadow(entry.name, stored);
      break;
    case Target::kExpAvg:
      parameter_state<torch::optim::AdamWParamState>(trainer.optimizer(), entry.tensor).exp_avg().copy_(stored);
      break;
    case Target::kExpAvgSq:
      parameter_state<torch::optim::AdamWParamState>(trainer.optimizer(), entry.tensor).exp_avg_sq().copy_(stored);
      break;
    case Target::kAdamStep:
      parameter_state<torch::optim::AdamWParamState>(trainer.optimizer(), entry.tensor).step(stored.item<int64_t>());
      break;
    case Target::kStep:
      trainer.set_step_count(stored.item<int64_t>());
      break;
    case Target::kEmaUpdates:
      trainer.ema()->set_num_updates(stored.item<int64_t>());
      break;
    case Target::kGenerator:
      trainer.generator().set_state(stored);
      break;
    case Target::kNone:
      break;
  }
}

}  // namespace

void save_training_checkpoint(const std::string& path, const LdmTrainer& trainer,
                              const std::map<std::string, std::string>& metadata) {
  std::map<std::string, std::string> header;
  for (const auto& [key, value] : metadata) {
    if (key.rfind(kReservedPrefix, 0) == 0) {
      throw std::invalid_argument("training checkpoint: metadata key '" + key + "' is reserved (tessera.*)");
    }
    header[key] = value;
  }
  header[kFormatKey] = kFormat;
  header[kEmaKey] = trainer.ema() != nullptr ? "on" : "off";
  const std::vector<Entry> list = entries(trainer);
  std::vector<TensorData> tensors;
  tensors.reserve(list.size());
  for (const Entry& entry : list) tensors.push_back(from_torch(entry.key, entry.value));
  write_safetensors(path, tensors, header);
}

std::map<std::string, std::string> load_training_checkpoint(const std::string& path, LdmTrainer& trainer) {
  const SafetensorsFile file = SafetensorsFile::open(path);
  const auto& stored_metadata = file.metadata();
  const auto format = stored_metadata.find(kFormatKey);
  if (format == stored_metadata.end() || format->second != kFormat) {
    throw WeightsError("training checkpoint " + path + ": not a tessera training checkpoint (metadata " + kFormatKey +
                           " is not '" + kFormat + "')",
                       path);
  }
  const std::string ema_here = trainer.ema() != nullptr ? "on" : "off";
  const auto ema_there = stored_metadata.find(kEmaKey);
  if (ema_there == stored_metadata.end() || ema_there->second != ema_here) {
    throw WeightsError("training checkpoint " + path + ": saved with EMA " +
                           (ema_there == stored_metadata.end() ? std::string("unknown") : ema_there->second) +
                           ", the trainer has EMA " + ema_here,
                       path);
  }

  const std::vector<Entry> list = entries(trainer);

  std::vector<ExpectedTensor> expected;
  for (const Entry& entry : list) expected.push_back({entry.key, entry.value});
  const auto views = match_checkpoint(file, expected, "training checkpoint", "the trainer");

  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < list.size(); ++i) restore(list[i], to_torch(*views[i]), trainer);
  std::map<std::string, std::string> caller_metadata;
  for (const auto& [key, value] : stored_metadata) {
    if (key.rfind(kReservedPrefix, 0) != 0) caller_metadata[key] = value;
  }
  return caller_metadata;
}

}  // namespace tessera::model
