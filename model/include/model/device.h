#pragma once

// Where and in what precision the models run. The modules themselves are
// device-agnostic; a runner resolves the device once, moves module and inputs
// there, and holds an AutocastScope around forward passes.

#include <torch/types.h>

#include <optional>
#include <string>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tessera::model {

enum class Precision { kFp32, kFp16, kBf16 };

// "fp32", "fp16" or "bf16"; throws std::invalid_argument otherwise.
Precision parse_precision(const std::string& text);

// "auto" (CUDA when available, else CPU), "cpu", "cuda" or "cuda:N"; asking
// for CUDA where there is none is an error saying so.
torch::Device resolve_device(const std::string& text);

// Sets LibTorch's intra-op threads: OpenMP starts with 1 on some machines, so
// this is always called explicitly. 0 means one per core.
void set_cpu_threads(int threads);

// Moves a module to `device`; on CUDA its 4-D weights go channels-last, which
// cuDNN's convolutions prefer (inputs should follow with to_channels_last).
void place_module(torch::nn::Module& module, const torch::Device& device);
torch::Tensor to_device(const torch::Tensor& tensor, const torch::Device& device);

// Mixed precision for the scope's lifetime: fp16 or bf16 autocast on CUDA;
// fp32 changes nothing. On CPU mixed precision is refused: LibTorch 1.13's CPU
// autocast leaves GroupNorm's weights in fp32 with bf16 inputs and fails
// inside native_group_norm. Restores the previous state on exit. One switch
// point for the LibTorch 1.x and >= 2.4 autocast APIs.
// The precision CUDA autocast runs in on this thread, or nullopt when it is
// off. Autocast state is per thread: work moved to another thread (the
// backward pass of a checkpointed block) re-enters it with an AutocastScope.
std::optional<Precision> current_cuda_autocast();

class AutocastScope {
 public:
  AutocastScope(const torch::Device& device, Precision precision);
  ~AutocastScope();
  AutocastScope(const AutocastScope&) = delete;
  AutocastScope& operator=(const AutocastScope&) = delete;

 private:
  bool active_ = false;
  bool cuda_ = false;
  bool previous_enabled_ = false;
  torch::ScalarType previous_dtype_ = torch::kFloat32;
};

}  // namespace tessera::model
