#include "runtime/tensor_records.h"

#include <torch/torch.h>

#include <cstring>

namespace tessera::runtime {
namespace {

torch::ScalarType scalar_type(store::TensorDType dtype) {
  switch (dtype) {
    case store::TensorDType::kF16:
      return torch::kFloat16;
    case store::TensorDType::kBF16:
      return torch::kBFloat16;
    case store::TensorDType::kF32:
      break;
  }
  return torch::kFloat32;
}

}  // namespace

std::vector<store::TensorRecord> to_tensor_records(const at::Tensor& batch, store::TensorKind kind,
                                                   store::TensorDType dtype, float scale_factor) {
  const torch::Tensor host = batch.detach().to(scalar_type(dtype)).to(torch::kCPU).contiguous();
  std::vector<store::TensorRecord> records(size_t(host.size(0)));
  const size_t row_bytes = size_t(host.numel() / host.size(0)) * host.element_size();
  const auto* bytes = static_cast<const char*>(host.data_ptr());
  for (size_t i = 0; i < records.size(); ++i) {
    auto& r = records[i];
    r.kind = kind;
    r.dtype = dtype;
    r.scale_factor = scale_factor;
    for (int64_t d = 1; d < host.dim(); ++d) r.shape.push_back(uint32_t(host.size(d)));
    r.data.assign(bytes + i * row_bytes, row_bytes);
  }
  return records;
}

at::Tensor to_float_tensor(const store::TensorRecord& record) {
  std::vector<int64_t> shape(record.shape.begin(), record.shape.end());
  torch::Tensor t = torch::empty(shape, torch::TensorOptions().dtype(scalar_type(record.dtype)));
  std::memcpy(t.data_ptr(), record.data.data(), record.data.size());
  return t.to(torch::kFloat32);
}

}  // namespace tessera::runtime
