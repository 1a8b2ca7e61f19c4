#pragma once

// Between safetensors views and torch tensors, for weights-free inputs and
// outputs (named tensors in and out of `tessera model forward`).

#include <torch/types.h>

#include <string>

#include "model/safetensors.h"

namespace tessera::model {

// An owning CPU tensor with the view's dtype and shape (F32, F64, F16, BF16,
// I64, I32, I16, I8, U8, BOOL).
torch::Tensor to_torch(const TensorView& view);

// A tensor to write: contiguous CPU bytes of a float32, float64, float16,
// bfloat16, int64, int32 or bool tensor.
TensorData from_torch(std::string name, const torch::Tensor& tensor);

}  // namespace tessera::model
