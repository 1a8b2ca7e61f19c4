#include "model/tensor_io.h"

#include <torch/torch.h>

#include <cstring>
#include <set>
#include <sstream>

namespace tessera::model {
namespace {

struct DTypePair {
  DType dtype;
  torch::ScalarType scalar;
};

constexpr DTypePair kPairs[] = {
    {DType::kF32, torch::kFloat32},   {DType::kF64, torch::kFloat64}, {DType::kF16, torch::kFloat16},
    {DType::kBF16, torch::kBFloat16}, {DType::kI64, torch::kInt64},   {DType::kI32, torch::kInt32},
    {DType::kI16, torch::kInt16},     {DType::kI8, torch::kInt8},     {DType::kU8, torch::kUInt8},
    {DType::kBool, torch::kBool},
};

}  // namespace

torch::Tensor to_torch(const TensorView& view) {
  for (const auto& pair : kPairs) {
    if (pair.dtype != view.dtype) continue;
    auto tensor = torch::empty(view.shape, torch::TensorOptions().dtype(pair.scalar));
    if (size_t(tensor.nbytes()) != view.bytes) {
      throw WeightsError(view.name + ": " + std::to_string(view.bytes) + " bytes do not fill its shape", "", view.name);
    }
    // safetensors data is little-endian and need not be aligned: copy bytes.
    if (view.bytes > 0) std::memcpy(tensor.data_ptr(), view.data, view.bytes);
    return tensor;
  }
  throw WeightsError(view.name + ": its dtype has no torch equivalent here", "", view.name);
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
  throw WeightsError(name + ": tensors of this dtype are not written", "", name);
}

DType safetensors_dtype(torch::ScalarType type, const std::string& what) {
  for (const auto& pair : kPairs) {
    if (pair.scalar == type) return pair.dtype;
  }
  throw WeightsError(what + ": tensors of this dtype are not written", "", what);
}

std::vector<const TensorView*> match_checkpoint(const SafetensorsFile& file,
                                                const std::vector<ExpectedTensor>& expected, const std::string& what,
                                                const std::string& whom) {
  const auto shape_text = [](at::IntArrayRef shape) {
    std::ostringstream out;
    out << '[';
    for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
    out << ']';
    return out.str();
  };
  std::vector<std::string> missing, mismatched, unexpected;
  std::string first_mismatched;
  std::set<std::string> keys;
  std::vector<const TensorView*> views;
  for (const auto& entry : expected) {
    keys.insert(entry.key);
    const TensorView* view = file.find(entry.key);
    views.push_back(view);
    if (view == nullptr) {
      missing.push_back(entry.key);
      continue;
    }
    const DType dtype = safetensors_dtype(entry.like.scalar_type(), entry.key);
    if (view->shape != entry.like.sizes() || view->dtype != dtype) {
      if (mismatched.empty()) first_mismatched = entry.key;
      mismatched.push_back(entry.key + ": got " + std::string(dtype_name(view->dtype)) + " " + shape_text(view->shape) +
                           ", expected " + std::string(dtype_name(dtype)) + " " + shape_text(entry.like.sizes()));
    }
  }
  for (const TensorView& view : file.tensors()) {
    if (keys.count(view.name) == 0) unexpected.push_back(view.name);
  }
  if (!missing.empty() || !mismatched.empty() || !unexpected.empty()) {
    const std::string& first_at_fault = !missing.empty()      ? missing.front()
                                        : !unexpected.empty() ? unexpected.front()
                                                              : first_mismatched;
    std::ostringstream message;
    message << what << " " << file.path() << " does not match " << whom << ": " << missing.size() << " missing, "
            << unexpected.size() << " unexpected, " << mismatched.size() << " mismatched";
    for (const std::string& key : missing) message << "\n  missing: " << key;
    for (const std::string& key : unexpected) message << "\n  unexpected: " << key;
    for (const std::string& line : mismatched) message << "\n  mismatch: " << line;
    throw WeightsError(message.str(), file.path(), first_at_fault);
  }
  return views;
}

}  // namespace tessera::model
