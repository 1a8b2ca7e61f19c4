#include "model/tensor_io.h"

#include <torch/torch.h>

#include <cstring>

namespace tessera::model {
namespace {

struct DTypePair {
  DType dtype;
  torch::ScalarType scalar;
};

constexpr DTypePair kPairs[] = {
    {DType::kF32, torch::kFloat32}, {DType::kF64, torch::kFloat64}, {DType::kF16, torch::kFloat16},
    {DType::kBF16, torch::kBFloat16}, {DType::kI64, torch::kInt64}, {DType::kI32, torch::kInt32},
    {DType::kI16, torch::kInt16},    {DType::kI8, torch::kInt8},     {DType::kU8, torch::kUInt8},
    {DType::kBool, torch::kBool},
};

}  // namespace

torch::Tensor to_torch(const TensorView& view) {
  for (const auto& pair : kPairs) {
    if (pair.dtype != view.dtype) continue;
    auto tensor = torch::empty(view.shape, torch::TensorOptions().dtype(pair.scalar));
    if (size_t(tensor.nbytes()) != view.bytes) {
      throw WeightsError(view.name + ": " + std::to_string(view.bytes) + " bytes do not fill its shape");
    }
    // safetensors data is little-endian and need not be aligned: copy bytes.
    if (view.bytes > 0) std::memcpy(tensor.data_ptr(), view.data, view.bytes);
    return tensor;
  }
  throw WeightsError(view.name + ": its dtype has no torch equivalent here");
}

TensorData from_torch(std::string name, const torch::Tensor& tensor) {
  const auto cpu = tensor.detach().to(torch::kCPU).contiguous();
  for (const auto& pair : kPairs) {
    if (pair.scalar != cpu.scalar_type()) continue;
    TensorData data;
    data.name = std::move(name);
    data.dtype = pair.dtype;
    data.shape.assign(cpu.sizes().begin(), cpu.sizes().end());
    data.bytes.resize(size_t(cpu.nbytes()));
    if (!data.bytes.empty()) std::memcpy(data.bytes.data(), cpu.data_ptr(), data.bytes.size());
    return data;
  }
  throw WeightsError(name + ": tensors of this dtype are not written");
}

}  // namespace tessera::model
