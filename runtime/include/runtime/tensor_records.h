#pragma once

// Between torch tensors and the store's tensor records (latents, embeddings).
// LibTorch stays out of this header: callers hold the tensors, so they
// include it themselves.

#include <string>
#include <vector>

#include "store/tensor_record.h"

namespace at {
class Tensor;
}  // namespace at

namespace tessera::runtime {

// One record per row of `batch` (B, ...), converted to `dtype` and copied to
// the host; the record's shape is the row's. Every value must be finite as
// stored: a NaN or infinite value (weights that give NaN, or a value beyond
// fp16's range) throws tessera::Error naming `producer` (the model and its
// weights file) and the rows, and no record of the batch is returned.
std::vector<store::TensorRecord> to_tensor_records(const at::Tensor& batch, store::TensorKind kind,
                                                   store::TensorDType dtype, float scale_factor,
                                                   const std::string& producer);

// The record's values as a float32 CPU tensor of its shape.
at::Tensor to_float_tensor(const store::TensorRecord& record);

}  // namespace tessera::runtime
