#include "runtime/tensor_records.h"

#include <torch/torch.h>

#include <cstring>
#include <string>

#include "base/error.h"

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

// Throws naming the producer and the rows with a value that is not finite.
void check_finite(const torch::Tensor& host, store::TensorDType dtype, const std::string& producer) {
  if (host.numel() == 0) return;
  const torch::Tensor bad_rows = torch::logical_not(torch::isfinite(host)).reshape({host.size(0), -1}).any(1);
  const int64_t bad = bad_rows.sum().item<int64_t>();
  if (bad == 0) return;
  const int64_t first = bad_rows.nonzero()[0][0].item<int64_t>();
  throw Error(producer + " gave non-finite values (NaN or infinite, as stored in " + store::to_string(dtype) + ") in " +
              std::to_string(bad) + " of " + std::to_string(host.size(0)) + " rows of a batch (first: row " +
              std::to_string(first) + "); nothing of the batch is stored");
}

}  // namespace

std::vector<store::TensorRecord> to_tensor_records(const at::Tensor& batch, store::TensorKind kind,
                                                   store::TensorDType dtype, float scale_factor,
                                                   const std::string& producer) {
  const torch::Tensor host = batch.detach().to(scalar_type(dtype)).to(torch::kCPU).contiguous();
  check_finite(host, dtype, producer);
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
