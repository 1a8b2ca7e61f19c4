#include "runtime/vae_training.h"

#include <torch/torch.h>

#include <set>
#include <sstream>
#include <type_traits>
#include <utility>
#include <vector>

#include "base/error.h"
#include "model/autoencoder.h"
#include "model/autoencoder_loss.h"
#include "model/device.h"
#include "model/lpips.h"
#include "model/optimizer_state.h"
#include "model/safetensors.h"
#include "model/sampler.h"
#include "model/state_dict_loader.h"
#include "model/tensor_io.h"
#include "runtime/checkpoint_checksum.h"
#include "runtime/model_loading.h"

namespace tessera::runtime {
namespace {

constexpr const char* kFormatKey = "tessera.format";
constexpr const char* kFormat = "vae-training-checkpoint/1";
constexpr const char* kReservedPrefix = "tessera.";
const std::string kOptimizerPrefix = "train.optimizer.";
const std::string kStepKey = "train.step";
const std::string kGeneratorKey = "train.generator";

torch::Tensor int64_scalar(int64_t value) { return torch::tensor(value, torch::kInt64).reshape({}); }

// One tensor of the state file: its key, the value to save (whose shape and
// dtype a file must match) and where a stored value goes.
struct StateEntry {
  enum class Target { kExpAvg, kExpAvgSq, kAdamStep, kStep, kGenerator };
  std::string key;
  torch::Tensor value;
  Target target;
  torch::Tensor parameter;  // for the optimiser's entries
};

// The caller's metadata of a state file, its format checked.
std::map<std::string, std::string> state_metadata(const std::string& state_path) {
  const auto file = model::SafetensorsFile::open(state_path);
  const auto format = file.metadata().find(kFormatKey);
  if (format == file.metadata().end() || format->second != kFormat) {
    throw model::WeightsError("vae training state " + state_path + ": not a tessera VAE training state (metadata " +
                              kFormatKey + " is not '" + kFormat + "')");
  }
  std::map<std::string, std::string> caller;
  for (const auto& [key, value] : file.metadata()) {
    if (key.rfind(kReservedPrefix, 0) != 0) caller[key] = value;
  }
  return caller;
}

}  // namespace

struct VaeTrainer::Impl {
  VaeTrainingOptions options;
  LoadedAutoencoder model;
  std::shared_ptr<model::Lpips> lpips;
  torch::Device device = torch::kCPU;
  std::unique_ptr<torch::optim::Adam> optimizer;
  at::Generator generator;
  model::AutoencoderLossOptions loss_options;
  int64_t steps = 0;

  std::vector<StateEntry> entries() const {
    using Target = StateEntry::Target;
    std::vector<StateEntry> list;
    for (const auto& item : model.module->named_parameters(/*recurse=*/true)) {
      const torch::Tensor& parameter = item.value();
      const std::string prefix = kOptimizerPrefix + item.key();
      const torch::optim::AdamParamState* state =
          model::find_parameter_state<torch::optim::AdamParamState>(*optimizer, parameter);
      const torch::Tensor zeros = state ? torch::Tensor() : torch::zeros_like(parameter);
      list.push_back({prefix + ".exp_avg", state ? state->exp_avg() : zeros, Target::kExpAvg, parameter});
      list.push_back({prefix + ".exp_avg_sq", state ? state->exp_avg_sq() : zeros, Target::kExpAvgSq, parameter});
      list.push_back({prefix + ".step", int64_scalar(state ? state->step() : 0), Target::kAdamStep, parameter});
    }
    list.push_back({kStepKey, int64_scalar(steps), Target::kStep, {}});
    list.push_back({kGeneratorKey, generator.get_state(), Target::kGenerator, {}});
    return list;
  }

  void restore(const StateEntry& entry, const torch::Tensor& stored) {
    using Target = StateEntry::Target;
    switch (entry.target) {
      case Target::kExpAvg:
        model::parameter_state<torch::optim::AdamParamState>(*optimizer, entry.parameter).exp_avg().copy_(stored);
        break;
      case Target::kExpAvgSq:
        model::parameter_state<torch::optim::AdamParamState>(*optimizer, entry.parameter).exp_avg_sq().copy_(stored);
        break;
      case Target::kAdamStep:
        model::parameter_state<torch::optim::AdamParamState>(*optimizer, entry.parameter).step(stored.item<int64_t>());
        break;
      case Target::kStep:
        steps = stored.item<int64_t>();
        break;
      case Target::kGenerator:
        generator.set_state(stored);
        break;
    }
  }
};

VaeTrainer::VaeTrainer(const VaeTrainingOptions& options) : impl_(std::make_unique<Impl>()) {
  if (!(options.learning_rate > 0.0)) throw Error("the learning rate must be positive");
  if (!(options.max_grad_norm >= 0.0)) throw Error("the gradient clipping norm must not be negative (0 = off)");
  impl_->options = options;
  impl_->device = model::resolve_device(options.device);
  if (impl_->device.is_cpu()) model::set_cpu_threads(options.threads);
  impl_->model = load_autoencoder(options.config, options.weights);
  if (!options.perceptual.empty()) impl_->lpips = model::load_lpips(options.perceptual);
  model::place_module(*impl_->model.module, impl_->device);
  if (impl_->lpips) model::place_module(*impl_->lpips, impl_->device);
  impl_->model.module->train();
  torch::optim::AdamOptions adam(options.learning_rate);
  adam.betas(std::make_tuple(0.5, 0.9));
  impl_->optimizer = std::make_unique<torch::optim::Adam>(impl_->model.module->parameters(), adam);
  impl_->generator = model::make_cpu_generator(options.seed);
}

VaeTrainer::~VaeTrainer() = default;

const std::string& VaeTrainer::initial_model_id() const { return impl_->model.id; }
const std::string& VaeTrainer::architecture() const { return impl_->model.architecture; }
int VaeTrainer::resolution() const { return int(impl_->model.module->config().resolution); }
int VaeTrainer::downsample() const { return impl_->model.downsample; }
bool VaeTrainer::perceptual() const { return impl_->lpips != nullptr; }
bool VaeTrainer::on_gpu() const { return impl_->device.is_cuda(); }
int64_t VaeTrainer::step_count() const { return impl_->steps; }

VaeStepLoss VaeTrainer::step(const uint8_t* pixels, size_t count, int side) {
  if (count == 0) throw Error("a training step needs at least one image");
  if (side <= 0 || side % impl_->model.downsample != 0) {
    throw Error("crops of " + std::to_string(side) + " px cannot train a VAE that downsamples by " +
                std::to_string(impl_->model.downsample));
  }
  auto& module = *impl_->model.module;
  // NHWC bytes viewed as NCHW: on CUDA the channels-last layout the placed module expects.
  torch::Tensor x = torch::from_blob(const_cast<uint8_t*>(pixels), {int64_t(count), side, side, 3}, torch::kUInt8)
                        .to(impl_->device)
                        .permute({0, 3, 1, 2})
                        .to(torch::kFloat32)
                        .div_(127.5)
                        .sub_(1.0);
  if (impl_->device.is_cpu()) x = x.contiguous();

  std::vector<torch::Tensor> parameters = module.parameters();
  for (torch::Tensor& parameter : parameters) parameter.mutable_grad() = torch::Tensor();
  const model::AutoencoderLoss loss =
      model::autoencoder_loss(module, x, impl_->lpips.get(), impl_->loss_options, impl_->generator);
  loss.total.backward();

  VaeStepLoss result;
  if (impl_->options.max_grad_norm > 0.0) {
    result.grad_norm = torch::nn::utils::clip_grad_norm_(parameters, impl_->options.max_grad_norm);
  } else {
    std::vector<torch::Tensor> norms;
    for (const torch::Tensor& parameter : parameters) {
      if (parameter.grad().defined()) norms.push_back(parameter.grad().norm(2.0));
    }
    result.grad_norm = norms.empty() ? 0.0 : torch::stack(norms).norm(2.0).item<double>();
  }
  impl_->optimizer->step();
  ++impl_->steps;
  result.loss = loss.total.item<double>();
  result.rec = loss.rec.item<double>();
  result.regulariser = loss.regulariser.item<double>();
  result.perceptual = loss.perceptual.item<double>();
  result.learning_rate = impl_->options.learning_rate;
  return result;
}

void VaeTrainer::save_weights(const std::string& path) const {
  const auto& module = *impl_->model.module;
  std::vector<model::TensorData> tensors;
  for (const auto& item : module.named_parameters(/*recurse=*/true)) {
    tensors.push_back(model::from_torch(item.key(), item.value()));
  }
  for (const auto& item : module.named_buffers(/*recurse=*/true)) {
    tensors.push_back(model::from_torch(item.key(), item.value()));
  }
  model::write_safetensors(path, tensors);
  write_checksum(path);
}

void VaeTrainer::save_state(const std::string& path, const std::map<std::string, std::string>& metadata) const {
  std::map<std::string, std::string> header;
  for (const auto& [key, value] : metadata) {
    if (key.rfind(kReservedPrefix, 0) == 0) {
      throw std::invalid_argument("vae training state: metadata key '" + key + "' is reserved (tessera.*)");
    }
    header[key] = value;
  }
  header[kFormatKey] = kFormat;
  std::vector<model::TensorData> tensors;
  for (const StateEntry& entry : impl_->entries()) tensors.push_back(model::from_torch(entry.key, entry.value));
  model::write_safetensors(path, tensors, header);
  write_checksum(path);
}

std::map<std::string, std::string> VaeTrainer::resume(const std::string& weights_path, const std::string& state_path) {
  auto metadata = state_metadata(state_path);
  const auto file = model::SafetensorsFile::open(state_path);
  const std::vector<StateEntry> list = impl_->entries();
  std::vector<model::ExpectedTensor> expected;
  for (const StateEntry& entry : list) expected.push_back({entry.key, entry.value});
  const auto views = model::match_checkpoint(file, expected, "vae training state", "the model");
  // Strict, and unchanged on a mismatch: the state is applied only after it.
  model::load_weights(*impl_->model.module, model::WeightsSet::open(weights_path), "");
  torch::NoGradGuard no_grad;
  for (size_t i = 0; i < list.size(); ++i) impl_->restore(list[i], model::to_torch(*views[i]));
  return metadata;
}

}  // namespace tessera::runtime
