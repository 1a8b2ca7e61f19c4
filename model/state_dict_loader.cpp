#include "model/state_dict_loader.h"

#include <torch/nn/module.h>

#include <cstddef>
#include <cstdint>
#include <set>
#include <sstream>
#include <utility>

namespace tessera::model {
namespace {

std::string shape_text(const std::vector<int64_t>& shape) {
  std::ostringstream out;
  out << '[';
  for (size_t i = 0; i < shape.size(); ++i) out << (i ? ", " : "") << shape[i];
  out << ']';
  return out.str();
}

bool is_floating(DType dtype) {
  return dtype == DType::kF32 || dtype == DType::kF16 || dtype == DType::kBF16 || dtype == DType::kF64;
}

bool is_integer(DType dtype) {
  switch (dtype) {
    case DType::kU8:
    case DType::kI8:
    case DType::kI16:
    case DType::kU16:
    case DType::kI32:
    case DType::kU32:
    case DType::kI64:
      return true;
    default:
      return false;
  }
}

// Whether `view` can be copied into `target`; otherwise a reason.
std::string dtype_problem(const TensorView& view, const torch::Tensor& target) {
  const bool target_floating = c10::isFloatingType(target.scalar_type());
  const bool target_integer = c10::isIntegralType(target.scalar_type(), /*includeBool=*/false);
  if (target_floating && is_floating(view.dtype)) return {};
  if (target_integer && is_integer(view.dtype)) return {};
  std::ostringstream out;
  out << "got " << dtype_name(view.dtype) << ", expected " << target.scalar_type();
  return out.str();
}

// The view's values as a CPU tensor of a dtype that holds them exactly.
torch::Tensor to_tensor(const TensorView& view) {
  if (view.dtype == DType::kF64) {
    std::vector<double> values = view.to_float64();
    return torch::from_blob(values.data(), view.shape, torch::kFloat64).clone();
  }
  if (is_floating(view.dtype)) {
    std::vector<float> values = view.to_float32();
    return torch::from_blob(values.data(), view.shape, torch::kFloat32).clone();
  }
  std::vector<int64_t> values = view.to_int64();
  return torch::from_blob(values.data(), view.shape, torch::kInt64).clone();
}

bool starts_with(const std::string& text, const std::string& start) {
  return text.size() >= start.size() && text.compare(0, start.size(), start) == 0;
}

}  // namespace

void load_weights(torch::nn::Module& module, const WeightsSet& weights, const std::string& prefix,
                  const std::vector<std::string>& ignored_prefixes) {
  std::vector<std::pair<torch::Tensor, const TensorView*>> copies;
  std::vector<std::string> missing;
  std::vector<std::string> wrong_shape;
  std::vector<std::string> wrong_dtype;
  std::string first_misfit;  // the first tensor of a wrong shape or dtype
  std::set<std::string> used;

  auto match = [&](const std::string& name, const torch::Tensor& target) {
    const std::string key = prefix + name;
    const TensorView* view = weights.find(key);
    if (view == nullptr) {
      missing.push_back(key);
      return;
    }
    used.insert(key);
    const std::vector<int64_t> expected(target.sizes().begin(), target.sizes().end());
    if (view->shape != expected) {
      if (first_misfit.empty()) first_misfit = key;
      wrong_shape.push_back(key + ": got " + shape_text(view->shape) + ", expected " + shape_text(expected));
      return;
    }
    const std::string problem = dtype_problem(*view, target);
    if (!problem.empty()) {
      if (first_misfit.empty()) first_misfit = key;
      wrong_dtype.push_back(key + ": " + problem);
      return;
    }
    copies.emplace_back(target, view);
  };
  for (const auto& item : module.named_parameters(/*recurse=*/true)) match(item.key(), item.value());
  for (const auto& item : module.named_buffers(/*recurse=*/true)) match(item.key(), item.value());

  std::vector<std::string> unexpected;
  for (const std::string& name : weights.names()) {
    if (!starts_with(name, prefix) || used.count(name) != 0) continue;
    const std::string relative = name.substr(prefix.size());
    bool ignored = false;
    for (const std::string& ignore : ignored_prefixes) ignored = ignored || starts_with(relative, ignore);
    if (!ignored) unexpected.push_back(name);
  }

  if (!missing.empty() || !unexpected.empty() || !wrong_shape.empty() || !wrong_dtype.empty()) {
    const std::string& first_at_fault = !missing.empty()      ? missing.front()
                                        : !unexpected.empty() ? unexpected.front()
                                                              : first_misfit;
    std::ostringstream message;
    message << "weights " << weights.path() << " do not match the model under prefix '" << prefix
            << "': " << missing.size() << " missing, " << unexpected.size() << " unexpected, " << wrong_shape.size()
            << " wrongly shaped, " << wrong_dtype.size() << " wrongly typed";
    for (const std::string& key : missing) message << "\n  missing: " << key;
    for (const std::string& key : unexpected) message << "\n  unexpected: " << key;
    for (const std::string& line : wrong_shape) message << "\n  shape mismatch: " << line;
    for (const std::string& line : wrong_dtype) message << "\n  dtype mismatch: " << line;
    throw WeightsError(message.str(), weights.path(), first_at_fault);
  }

  torch::NoGradGuard no_grad;
  for (auto& [target, view] : copies) target.copy_(to_tensor(*view));
}

}  // namespace tessera::model
