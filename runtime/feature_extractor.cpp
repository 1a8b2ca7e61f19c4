#include "runtime/feature_extractor.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <filesystem>
#include <map>
#include <sstream>
#include <unordered_map>

#include "base/error.h"
#include "base/number_text.h"
#include "config/content_hash.h"
#include "model/device.h"
#include "runtime/checkpoint_checksum.h"

namespace tessera::runtime {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDefaultArgument = "return_features";

torch::IValue argument_value(const std::string& text, const std::string& argument) {
  if (text == "true" || text == "True") return true;
  if (text == "false" || text == "False") return false;
  try {
    size_t used = 0;
    const long long integer = std::stoll(text, &used);
    if (used == text.size()) return int64_t(integer);
    const double number = std::stod(text, &used);
    if (used == text.size()) return number;
  } catch (const std::exception&) {
  }
  throw Error("--extractor-arg " + argument + ": '" + text + "' is not true, false, an integer or a number");
}

std::string preprocessing_text(const ExtractorPreprocessing& p, const std::map<std::string, torch::IValue>& kwargs) {
  std::ostringstream text;
  text << "input_size=" << p.input_size << " resize=" << p.resize << " value_max=" << shortest_decimal(p.value_max)
       << " mean=[";
  for (size_t i = 0; i < p.mean.size(); ++i) text << (i ? "," : "") << shortest_decimal(p.mean[i]);
  text << "] std=[";
  for (size_t i = 0; i < p.std.size(); ++i) text << (i ? "," : "") << shortest_decimal(p.std[i]);
  text << "] arguments=[";
  bool first = true;
  for (const auto& [name, value] : kwargs) {
    text << (first ? "" : ",") << name << "=" << value;
    first = false;
  }
  text << "] output=" << p.output;
  return text.str();
}

}  // namespace

struct FeatureExtractor::Impl {
  torch::jit::Module module;
  torch::Device device = torch::kCPU;
  ExtractorPreprocessing preprocessing;
  std::unordered_map<std::string, torch::IValue> kwargs;
  std::string path;
  std::string id;
  std::string description;

  torch::Tensor features_of(const torch::IValue& result) const;
};

FeatureExtractor::FeatureExtractor(const FeatureExtractorOptions& options) : impl_(std::make_unique<Impl>()) {
  auto& m = *impl_;
  m.path = fs::absolute(options.path).string();
  m.preprocessing = options.preprocessing;
  const auto& p = m.preprocessing;
  if (!fs::is_regular_file(options.path)) throw Error(options.path + ": no such extractor file");
  if (p.input_size < 0) throw Error("--extractor-size must be 0 (as the images are) or positive");
  if (p.resize != "bilinear" && p.resize != "bicubic" && p.resize != "nearest" && p.resize != "area") {
    throw Error("--extractor-resize '" + p.resize + "' is not bilinear, bicubic, nearest or area");
  }
  if (p.value_max != 255 && p.value_max != 1) throw Error("--extractor-range must be 255 or 1");
  if (!p.mean.empty() && p.mean.size() != 3) throw Error("--extractor-mean needs 3 values, one per channel");
  if (!p.std.empty() && p.std.size() != 3) throw Error("--extractor-std needs 3 values, one per channel");
  for (const double s : p.std) {
    if (!(s > 0)) throw Error("--extractor-std values must be positive");
  }

  m.device = model::resolve_device(options.device);
  if (m.device.is_cpu()) model::set_cpu_threads(options.threads);
  try {
    m.module = torch::jit::load(options.path, m.device);
  } catch (const c10::Error& e) {
    throw Error(options.path +
                ": not a TorchScript file that torch::jit::load can read: " + e.what_without_backtrace());
  }
  m.module.eval();
  if (!m.module.find_method("forward")) throw Error(options.path + ": the TorchScript module has no forward method");

  const auto& schema = m.module.get_method("forward").function().getSchema();
  const auto declares = [&](const std::string& name) {
    for (const auto& argument : schema.arguments()) {
      if (argument.name() == name) return true;
    }
    return false;
  };
  std::map<std::string, torch::IValue> given;  // sorted: the description is stable
  for (const auto& argument : p.arguments) {
    const auto equals = argument.find('=');
    if (equals == std::string::npos || equals == 0) {
      throw Error("--extractor-arg '" + argument + "' is not name=value");
    }
    const std::string name = argument.substr(0, equals);
    if (!declares(name)) {
      std::ostringstream declared;
      declared << schema;
      throw Error("--extractor-arg " + name + ": forward of " + options.path + " has no such argument (" +
                  declared.str() + ")");
    }
    given[name] = argument_value(argument.substr(equals + 1), name);
  }
  if (p.arguments.empty() && declares(kDefaultArgument)) given[kDefaultArgument] = true;
  m.kwargs.insert(given.begin(), given.end());
  m.description = preprocessing_text(p, given);

  config::ContentHash hash;
  hash.text("tessera-feature-extractor-v1");
  hash.text(file_digest(options.path));
  hash.text(m.description);
  m.id = hash.hex();
}

FeatureExtractor::~FeatureExtractor() = default;

const std::string& FeatureExtractor::id() const { return impl_->id; }
const std::string& FeatureExtractor::path() const { return impl_->path; }
const std::string& FeatureExtractor::description() const { return impl_->description; }

store::ModelRecord FeatureExtractor::model_record(size_t dim) const {
  store::ModelRecord record;
  record.id = impl_->id;
  record.role = "feature_extractor";
  record.architecture = "torchscript";
  record.config_path = impl_->description;
  record.weights_path = impl_->path;
  record.output_shape = {uint32_t(dim)};
  record.stored_dtype = "fp32";
  record.tile_size = impl_->preprocessing.input_size;
  return record;
}

torch::Tensor FeatureExtractor::Impl::features_of(const torch::IValue& result) const {
  const auto& output = preprocessing.output;
  torch::IValue value = result;
  if (value.isTuple()) {
    const auto& elements = value.toTupleRef().elements();
    size_t index = 0;
    if (!output.empty()) {
      try {
        index = std::stoul(output);
      } catch (const std::exception&) {
        throw Error(path + ": forward returns a tuple; --extractor-output '" + output + "' is not an index");
      }
    }
    if (index >= elements.size()) {
      throw Error(path + ": forward returns a tuple of " + std::to_string(elements.size()) +
                  " elements; --extractor-output " + output + " is past its end");
    }
    value = elements[index];
  } else if (value.isGenericDict()) {
    const auto dict = value.toGenericDict();
    if (output.empty() || !dict.contains(output)) {
      std::string keys;
      for (const auto& entry : dict) keys += (keys.empty() ? "" : ", ") + entry.key().toStringRef();
      throw Error(path + ": forward returns a dict (" + keys + "); name the features with --extractor-output KEY");
    }
    value = dict.at(output);
  } else if (!output.empty()) {
    throw Error(path + ": forward returns one value; --extractor-output " + output + " applies to a tuple or dict");
  }
  if (!value.isTensor()) throw Error(path + ": the features are a " + value.tagKind() + ", not a tensor");
  auto features = value.toTensor();
  // A pooled feature map, N x D x 1 x 1 as pytorch-fid's Inception gives it.
  while (features.dim() > 2 && features.size(-1) == 1) features = features.squeeze(-1);
  return features;
}

FeatureMatrix FeatureExtractor::extract(const std::vector<stages::RgbImage>& images) {
  auto& m = *impl_;
  if (images.empty()) return {};
  const auto& p = m.preprocessing;
  const int64_t n = int64_t(images.size());
  const int height = images[0].height, width = images[0].width;
  std::vector<torch::Tensor> inputs;
  inputs.reserve(images.size());
  torch::NoGradGuard no_grad;
  for (const auto& image : images) {
    auto x = torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
                 .permute({2, 0, 1})
                 .to(torch::kFloat32)
                 .unsqueeze(0);
    if (p.input_size > 0 && (image.width != p.input_size || image.height != p.input_size)) {
      namespace F = torch::nn::functional;
      auto options = F::InterpolateFuncOptions().size(std::vector<int64_t>{p.input_size, p.input_size});
      if (p.resize == "bilinear") options.mode(torch::kBilinear).align_corners(false);
      if (p.resize == "bicubic") options.mode(torch::kBicubic).align_corners(false);
      if (p.resize == "nearest") options.mode(torch::kNearest);
      if (p.resize == "area") options.mode(torch::kArea);
      x = F::interpolate(x, options);
    } else if (p.input_size == 0 && (image.width != width || image.height != height)) {
      throw Error(path() + ": images of " + std::to_string(width) + "x" + std::to_string(height) + " and " +
                  std::to_string(image.width) + "x" + std::to_string(image.height) +
                  " cannot share a batch; give --extractor-size to resize them");
    }
    inputs.push_back(x);
  }
  auto batch = torch::cat(inputs, 0);
  if (p.value_max == 1) batch = batch / 255.0;
  if (!p.mean.empty()) batch = batch - torch::tensor(p.mean, torch::kFloat32).view({1, 3, 1, 1});
  if (!p.std.empty()) batch = batch / torch::tensor(p.std, torch::kFloat32).view({1, 3, 1, 1});
  batch = batch.to(m.device);

  torch::IValue result;
  try {
    result = m.module.forward({batch}, m.kwargs);
  } catch (const c10::Error& e) {
    throw Error(path() + ": forward failed on a batch of " + std::to_string(n) + ": " + e.what_without_backtrace());
  }
  const auto features = m.features_of(result).to(torch::kCPU, torch::kFloat64).contiguous();
  if (features.dim() != 2 || features.size(0) != n) {
    std::string shape;
    for (const auto d : features.sizes()) shape += (shape.empty() ? "" : " x ") + std::to_string(d);
    throw Error(path() + ": the features are " + shape + ", not " + std::to_string(n) + " x D for a batch of " +
                std::to_string(n));
  }
  if (!torch::isfinite(features).all().item<bool>()) {
    throw Error(path() + ": the features of a batch of " + std::to_string(n) + " hold NaN or infinite values");
  }
  FeatureMatrix out;
  out.rows = size_t(n);
  out.dim = size_t(features.size(1));
  out.values.assign(features.data_ptr<double>(), features.data_ptr<double>() + features.numel());
  return out;
}

}  // namespace tessera::runtime
