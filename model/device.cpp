#include "model/device.h"

#include <ATen/autocast_mode.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <stdexcept>
#include <thread>

namespace tessera::model {
namespace {

// LibTorch 2.4 replaced the per-backend autocast setters with ones that take a
// device type; the old names are deprecated there.
#if TORCH_VERSION_MAJOR > 2 || (TORCH_VERSION_MAJOR == 2 && TORCH_VERSION_MINOR >= 4)
bool autocast_enabled(bool cuda) { return at::autocast::is_autocast_enabled(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_enabled(bool cuda, bool on) { at::autocast::set_autocast_enabled(cuda ? at::kCUDA : at::kCPU, on); }
torch::ScalarType autocast_dtype(bool cuda) { return at::autocast::get_autocast_dtype(cuda ? at::kCUDA : at::kCPU); }
void set_autocast_dtype(bool cuda, torch::ScalarType t) {
  at::autocast::set_autocast_dtype(cuda ? at::kCUDA : at::kCPU, t);
}
#else
bool autocast_enabled(bool cuda) { return cuda ? at::autocast::is_enabled() : at::autocast::is_cpu_enabled(); }
void set_autocast_enabled(bool cuda, bool on) {
  if (cuda) {
    at::autocast::set_enabled(on);
  } else {
    at::autocast::set_cpu_enabled(on);
  }
}
torch::ScalarType autocast_dtype(bool cuda) {
  return cuda ? at::autocast::get_autocast_gpu_dtype() : at::autocast::get_autocast_cpu_dtype();
}
void set_autocast_dtype(bool cuda, torch::ScalarType t) {
  if (cuda) {
    at::autocast::set_autocast_gpu_dtype(t);
  } else {
    at::autocast::set_autocast_cpu_dtype(t);
  }
}
#endif

}  // namespace

Precision parse_precision(const std::string& text) {
  if (text == "fp32") return Precision::kFp32;
  if (text == "fp16") return Precision::kFp16;
  if (text == "bf16") return Precision::kBf16;
  throw std::invalid_argument("precision '" + text + "' is not one of fp32, fp16, bf16");
}

torch::Device resolve_device(const std::string& text) {
  if (text == "auto") return torch::cuda::is_available() ? torch::Device(torch::kCUDA) : torch::Device(torch::kCPU);
  if (text == "cpu") return torch::Device(torch::kCPU);
  if (text.rfind("cuda", 0) == 0) {
    if (!torch::cuda::is_available()) {
      throw std::invalid_argument("device '" + text + "' asked for, but this LibTorch build sees no CUDA device");
    }
    const torch::Device device(text);
    if (device.has_index() && device.index() >= int64_t(torch::cuda::device_count())) {
      throw std::invalid_argument("device '" + text + "' asked for, but there are " +
                                  std::to_string(torch::cuda::device_count()) + " CUDA devices");
    }
    return device;
  }
  throw std::invalid_argument("device '" + text + "' is not one of auto, cpu, cuda, cuda:N");
}

void set_cpu_threads(int threads) {
  const int wanted = threads > 0 ? threads : int(std::max(1u, std::thread::hardware_concurrency()));
  // Cheap to ask; setting may resize LibTorch's thread pools.
  if (at::get_num_threads() != wanted) at::set_num_threads(wanted);
}

void place_module(torch::nn::Module& module, const torch::Device& device) {
  module.to(device);
  if (!device.is_cuda()) return;
  torch::NoGradGuard no_grad;
  for (auto& p : module.parameters()) {
    if (p.dim() == 4) p.set_data(p.contiguous(torch::MemoryFormat::ChannelsLast));
  }
}

torch::Tensor to_device(const torch::Tensor& tensor, const torch::Device& device) {
  auto moved = tensor.to(device);
  if (device.is_cuda() && moved.dim() == 4 && moved.is_floating_point()) {
    moved = moved.contiguous(torch::MemoryFormat::ChannelsLast);
  }
  return moved;
}

std::optional<Precision> current_cuda_autocast() {
  if (!autocast_enabled(true)) return std::nullopt;
  return autocast_dtype(true) == torch::kBFloat16 ? Precision::kBf16 : Precision::kFp16;
}

AutocastScope::AutocastScope(const torch::Device& device, Precision precision) {
  if (precision == Precision::kFp32) return;
  cuda_ = device.is_cuda();
  if (!cuda_) {
    throw std::invalid_argument("fp16 and bf16 autocast run on CUDA only; use fp32 on CPU");
  }
  previous_enabled_ = autocast_enabled(cuda_);
  previous_dtype_ = autocast_dtype(cuda_);
  set_autocast_dtype(cuda_, precision == Precision::kFp16 ? torch::kFloat16 : torch::kBFloat16);
  set_autocast_enabled(cuda_, true);
  active_ = true;
}

AutocastScope::~AutocastScope() {
  if (!active_) return;
  set_autocast_enabled(cuda_, previous_enabled_);
  set_autocast_dtype(cuda_, previous_dtype_);
  // Autocast caches casted weights until its outermost scope ends.
  if (!previous_enabled_) at::autocast::clear_cache();
}

}  // namespace tessera::model
