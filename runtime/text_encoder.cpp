#include "runtime/text_encoder.h"

#include <torch/torch.h>

#include <filesystem>

#include "base/error.h"
#include "model/clip_text.h"
#include "model/device.h"
#include "runtime/model_loading.h"
#include "runtime/tensor_records.h"

namespace tessera::runtime {

struct TextEncoder::Impl {
  LoadedTextEncoder model;
  torch::Device device = torch::kCPU;
  model::Precision precision = model::Precision::kFp32;
  store::TensorDType stored_dtype = store::TensorDType::kF16;
  std::string config_path;
  std::string weights_path;
  std::string vocabulary;  // fingerprint, "" for CLIP's by default
  int64_t start_token = 0;
  int64_t end_token = 0;
};

TextEncoder::TextEncoder(const TextEncoderOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->device = model::resolve_device(options.device);
  impl_->precision = model::parse_precision(options.compute_dtype);
  if (impl_->device.is_cpu() && impl_->precision != model::Precision::kFp32) {
    throw Error("--dtype " + options.compute_dtype + " needs a GPU; on the CPU the text encoder runs in fp32");
  }
  impl_->stored_dtype = options.stored_dtype;
  impl_->config_path = std::filesystem::absolute(options.config).string();
  impl_->weights_path = std::filesystem::absolute(options.weights).string();
  if (impl_->device.is_cpu()) model::set_cpu_threads(options.threads);
  impl_->model = load_text_encoder(options.config, options.weights);
  impl_->start_token = impl_->model.start_token;
  impl_->end_token = impl_->model.end_token;
  if (options.vocabulary) {
    impl_->vocabulary = options.vocabulary->fingerprint;
    impl_->start_token = options.vocabulary->start_token;
    impl_->end_token = options.vocabulary->end_token;
  }
  model::place_module(*impl_->model.module, impl_->device);
}

TextEncoder::~TextEncoder() = default;

const std::string& TextEncoder::model_id() const { return impl_->model.id; }

int64_t TextEncoder::context_length() const { return impl_->model.context_length; }

store::ModelRecord TextEncoder::model_record() const {
  store::ModelRecord record;
  record.id = impl_->model.id;
  record.role = "cond_stage";
  record.architecture = "clip";
  record.output_shape = {uint32_t(impl_->model.context_length), uint32_t(impl_->model.hidden_size)};
  record.stored_dtype = store::to_string(impl_->stored_dtype);
  record.config_path = impl_->config_path;
  record.weights_path = impl_->weights_path;
  record.vocabulary = impl_->vocabulary;
  return record;
}

std::vector<int32_t> TextEncoder::empty_prompt_ids() const {
  return {int32_t(impl_->start_token), int32_t(impl_->end_token)};
}

std::vector<store::TensorRecord> TextEncoder::encode(const std::vector<std::vector<int32_t>>& ids) {
  if (ids.empty()) return {};
  const auto& m = impl_->model;
  const int64_t length = m.context_length;
  const auto rows = int64_t(ids.size());
  std::vector<int64_t> input_ids(size_t(rows * length), impl_->end_token);
  std::vector<int64_t> mask_values(size_t(rows * length), 0);
  for (size_t i = 0; i < ids.size(); ++i) {
    if (int64_t(ids[i].size()) > length) {
      throw Error("a prompt of " + std::to_string(ids[i].size()) + " tokens is longer than the text encoder's " +
                  std::to_string(length) + "-token context");
    }
    for (size_t j = 0; j < ids[i].size(); ++j) {
      input_ids[i * size_t(length) + j] = ids[i][j];
      mask_values[i * size_t(length) + j] = 1;
    }
  }
  torch::Tensor input = torch::tensor(input_ids, torch::kInt64).reshape({rows, length});
  const torch::Tensor mask = torch::tensor(mask_values, torch::kInt64).reshape({rows, length});
  torch::NoGradGuard no_grad;
  torch::Tensor hidden;
  {
    model::AutocastScope autocast(impl_->device, impl_->precision);
    input = input.to(impl_->device);
    hidden = length > m.module->config().max_position_embeddings
                 ? m.module->encode_pathldm_154(input, mask.to(impl_->device))
                 : m.module->forward(input);
  }
  return to_tensor_records(hidden, store::TensorKind::kTextHidden, impl_->stored_dtype, 1.0f,
                           "text encoder " + m.id + " (weights " + impl_->weights_path + ")");
}

}  // namespace tessera::runtime
