#pragma once

// Between safetensors views and torch tensors, for weights-free inputs and
// outputs (named tensors in and out of `tessera model forward`).

#include <torch/types.h>

#include <string>
#include <vector>

#include "model/safetensors.h"

namespace tessera::model {

// An owning CPU tensor with the view's dtype and shape (F32, F64, F16, BF16,
// I64, I32, I16, I8, U8, BOOL).
torch::Tensor to_torch(const TensorView& view);

// A tensor to write: contiguous CPU bytes of a float32, float64, float16,
// bfloat16, int64, int32 or bool tensor.
TensorData from_torch(std::string name, const torch::Tensor& tensor);

// The safetensors dtype of a torch dtype; throws WeightsError naming `what`
// for one safetensors has no name for here.
DType safetensors_dtype(torch::ScalarType type, const std::string& what);

// One tensor a checkpoint must hold: its key, and a tensor of the shape and
// dtype it must have.
struct ExpectedTensor {
  std::string key;
  torch::Tensor like;
};

// The views of `expected`'s keys in `file`, in `expected`'s order, after
// checking that the file holds exactly those keys with those shapes and
// dtypes. Otherwise throws one WeightsError "`what` PATH does not match
// `whom`: ..." that lists every missing, unexpected and mismatched key, so
// that a caller restores nothing from a file that does not fit.
std::vector<const TensorView*> match_checkpoint(const SafetensorsFile& file,
                                                const std::vector<ExpectedTensor>& expected, const std::string& what,
                                                const std::string& whom);

}  // namespace tessera::model
