#include "parity_support.h"

#include <cstdio>
#include <limits>
#include <stdexcept>

#include "model/tensor_io.h"

namespace tessera::testing {

torch::Tensor fixture_tensor(const model::SafetensorsFile& io, const std::string& name) {
  const model::TensorView* view = io.find(name);
  if (view == nullptr) throw std::runtime_error("no tensor " + name + " in " + io.path());
  const torch::Tensor tensor = model::to_torch(*view);
  return tensor.scalar_type() == torch::kInt64 ? tensor : tensor.to(torch::kFloat32);
}

double max_abs_diff(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) return std::numeric_limits<double>::infinity();
  return (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
}

void expect_parity(const model::SafetensorsFile& io, const std::string& name, const torch::Tensor& actual) {
  const torch::Tensor expected = fixture_tensor(io, name);
  const double diff = max_abs_diff(actual, expected);
  std::printf("  %-28s max abs diff %.3g\n", name.c_str(), diff);
  EXPECT_LE(diff, kParityTolerance) << name << ": shape " << actual.sizes() << " vs " << expected.sizes();
}

int64_t parameter_count(const torch::nn::Module& module) {
  int64_t count = 0;
  for (const torch::Tensor& parameter : module.parameters()) count += parameter.numel();
  return count;
}

}  // namespace tessera::testing
