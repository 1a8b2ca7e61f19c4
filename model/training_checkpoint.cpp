#include "model/training_checkpoint.h"

#include <torch/torch.h>

#include <memory>
#include <set>
#include <sstream>
#include <type_traits>
#include <utility>
#include <vector>

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

// LibTorch keys optimiser state by the parameter's TensorImpl: as the pointer
// printed to a string up to 1.13, as the pointer itself from 2.x on.
template <typename StateMap>
typename StateMap::key_type state_key(const StateMap&, const torch::Tensor& parameter) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << parameter.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(parameter.unsafeGetTensorImpl());
  }
}

const torch::optim::AdamWParamState* adamw_state(const torch::optim::AdamW& optimizer, const torch::Tensor& parameter) {
  const auto& state = optimizer.state();
  const auto found = state.find(state_key(state, parameter));
  if (found == state.end()) return nullptr;
  return static_cast<const torch::optim::AdamWParamState*>(found->second.get());
}

torch::Tensor int64_scalar(int64_t value) { return torch::tensor(value, torch::kInt64).reshape({}); }

DType dtype_of(const torch::Tensor& tensor) {
  switch (tensor.scalar_type()) {
    case torch::kFloat32:
      return DType::kF32;
    case torch::kFloat64:
      return DType::kF64;
    case torch::kFloat16:
      return DType::kF16;
    case torch::kBFloat16:
      return DType::kBF16;
    case torch::kInt64:
      return DType::kI64;
    case torch::kUInt8:
      return DType::kU8;
    default:
      throw WeightsError("training checkpoint: tensors of dtype " + std::string(c10::toString(tensor.scalar_type())) +
                         " are not stored");
  }
}

std::string shape_text(at::IntArrayRef shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

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
    const torch::optim::AdamWParamState* state = adamw_state(trainer.optimizer(), parameter);
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

// AdamW creates a parameter's state on its first step; restoring needs it now.
torch::optim::AdamWParamState& adamw_state_for(torch::optim::AdamW& optimizer, const torch::Tensor& parameter) {
  auto& map = optimizer.state();
  const auto key = state_key(map, parameter);
  auto found = map.find(key);
  if (found == map.end()) {
    auto state = std::make_unique<torch::optim::AdamWParamState>();
    state->step(0);
    state->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    found = map.emplace(key, std::move(state)).first;
  }
  return static_cast<torch::optim::AdamWParamState&>(*found->second);
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
      adamw_state_for(trainer.optimizer(), entry.tensor).exp_avg().copy_(stored);
      break;
    case Target::kExpAvgSq:
      adamw_state_for(trainer.optimizer(), entry.tensor).exp_avg_sq().copy_(stored);
      break;
    case Target::kAdamStep:
      adamw_state_for(trainer.optimizer(), entry.tensor).step(stored.item<int64_t>());
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
                       " is not '" + kFormat + "')");
  }
  const std::string ema_here = trainer.ema() != nullptr ? "on" : "off";
  const auto ema_there = stored_metadata.find(kEmaKey);
  if (ema_there == stored_metadata.end() || ema_there->second != ema_here) {
    throw WeightsError("training checkpoint " + path + ": saved with EMA " +
                       (ema_there == stored_metadata.end() ? std::string("unknown") : ema_there->second) +
                       ", the trainer has EMA " + ema_here);
  }

  const std::vector<Entry> list = entries(trainer);

  std::vector<std::string> missing, mismatched, unexpected;
  std::set<std::string> expected;
  std::vector<std::pair<const Entry*, const TensorView*>> restores;
  for (const Entry& entry : list) {
    expected.insert(entry.key);
    const TensorView* view = file.find(entry.key);
    if (view == nullptr) {
      missing.push_back(entry.key);
      continue;
    }
    const std::vector<int64_t> shape(entry.value.sizes().begin(), entry.value.sizes().end());
    const DType dtype = dtype_of(entry.value);
    if (view->shape != shape || view->dtype != dtype) {
      mismatched.push_back(entry.key + ": got " + std::string(dtype_name(view->dtype)) + " " + shape_text(view->shape) +
                           ", expected " + std::string(dtype_name(dtype)) + " " + shape_text(shape));
      continue;
    }
    restores.emplace_back(&entry, view);
  }
  for (const TensorView& view : file.tensors()) {
    if (expected.count(view.name) == 0) unexpected.push_back(view.name);
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    std::ostringstream message;
    message << "training checkpoint " << path << " does not match the trainer: " << missing.size() << " missing, "
            << unexpected.size() << " unexpected, " << mismatched.size() << " mismatched";
    for (const std::string& key : missing) message << "\n  missing: " << key;
    for (const std::string& key : unexpected) message << "\n  unexpected: " << key;
    for (const std::string& line : mismatched) message << "\n  mismatch: " << line;
    throw WeightsError(message.str());
  }

  torch::NoGradGuard no_grad;
  for (const auto& [entry, view] : restores) restore(*entry, to_torch(*view), trainer);
  std::map<std::string, std::string> caller_metadata;
  for (const auto& [key, value] : stored_metadata) {
    if (key.rfind(kReservedPrefix, 0) != 0) caller_metadata[key] = value;
  }
  return caller_metadata;
}

}  // namespace tessera::model
