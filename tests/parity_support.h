#pragma once

// Helpers shared by the model parity tests: fixture tensors as torch tensors,
// and the max-abs-diff check against upstream's outputs.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cstdint>
#include <string>

#include "model/safetensors.h"

namespace tessera::testing {

// fp32 CPU parity, per the fixtures' README.
inline constexpr double kParityTolerance = 1e-4;

// A fixture tensor as int64 (I64) or float32 (everything else).
torch::Tensor fixture_tensor(const model::SafetensorsFile& io, const std::string& name);

// Max |actual - expected|, or +inf when the shapes differ.
double max_abs_diff(const torch::Tensor& actual, const torch::Tensor& expected);

// Prints the difference and expects it within kParityTolerance.
void expect_parity(const model::SafetensorsFile& io, const std::string& name, const torch::Tensor& actual);

int64_t parameter_count(const torch::nn::Module& module);

}  // namespace tessera::testing
