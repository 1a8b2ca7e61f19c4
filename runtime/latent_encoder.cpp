#include "runtime/latent_encoder.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <filesystem>

#include "base/error.h"
#include "model/autoencoder.h"
#include "model/device.h"
#include "runtime/memory_budget.h"
#include "runtime/memory_estimate.h"
#include "runtime/model_loading.h"
#include "runtime/tensor_records.h"

namespace tessera::runtime {

struct HostBatch::Storage {
  torch::Tensor pixels;  // (capacity, side, side, 3) uint8
};

HostBatch::HostBatch() = default;
HostBatch::~HostBatch() = default;
HostBatch::HostBatch(HostBatch&&) noexcept = default;
HostBatch& HostBatch::operator=(HostBatch&&) noexcept = default;

uint8_t* HostBatch::tile(size_t index) {
  if (index >= capacity_)
    throw Error("tile " + std::to_string(index) + " is outside a batch of " + std::to_string(capacity_));
  return storage_->pixels.data_ptr<uint8_t>() + index * size_t(side_) * size_t(side_) * 3;
}

struct LatentEncoder::Impl {
  LoadedAutoencoder model;
  torch::Device device = torch::kCPU;
  model::Precision precision = model::Precision::kFp32;
  store::TensorDType stored_dtype = store::TensorDType::kF16;
  int threads = 0;
  std::string config_path;
  std::string weights_path;
};

LatentEncoder::LatentEncoder(const LatentEncoderOptions& options) : impl_(std::make_unique<Impl>()) {
  impl_->device = model::resolve_device(options.device);
  impl_->precision = model::parse_precision(options.compute_dtype);
  if (impl_->device.is_cpu() && impl_->precision != model::Precision::kFp32) {
    throw Error("--dtype " + options.compute_dtype + " needs a GPU; on the CPU the VAE runs in fp32");
  }
  impl_->stored_dtype = options.stored_dtype;
  impl_->threads = options.threads;
  impl_->config_path = std::filesystem::absolute(options.config).string();
  impl_->weights_path = std::filesystem::absolute(options.weights).string();
  if (impl_->device.is_cpu()) model::set_cpu_threads(options.threads);
  impl_->model = load_autoencoder(options.config, options.weights);
  model::place_module(*impl_->model.module, impl_->device);
}

LatentEncoder::~LatentEncoder() = default;

const std::string& LatentEncoder::model_id() const { return impl_->model.id; }

bool LatentEncoder::on_gpu() const { return impl_->device.is_cuda(); }

void LatentEncoder::check_tile_side(int tile_side) const {
  const int f = impl_->model.downsample;
  if (tile_side <= 0 || tile_side % f != 0) {
    throw Error("tiles of " + std::to_string(tile_side) + " px cannot be encoded by a VAE that downsamples by " +
                std::to_string(f) + ": the side must be a multiple of it");
  }
}

store::ModelRecord LatentEncoder::model_record(int tile_side) const {
  check_tile_side(tile_side);
  const auto& m = impl_->model;
  store::ModelRecord record;
  record.id = m.id;
  record.role = "first_stage";
  record.architecture = m.architecture;
  const auto cells = uint32_t(tile_side / m.downsample);
  record.output_shape = {uint32_t(m.latent_channels), cells, cells};
  record.scale_factor = m.scale_factor;
  record.stored_dtype = store::to_string(impl_->stored_dtype);
  record.config_path = impl_->config_path;
  record.weights_path = impl_->weights_path;
  record.tile_size = tile_side;
  return record;
}

uint64_t LatentEncoder::peak_bytes(int side, size_t batch) const {
  return encode_peak_bytes(impl_->model.config, side, batch);
}

size_t LatentEncoder::affordable_batch(size_t requested, int side) const {
  if (on_gpu()) return requested;
  const AvailableMemory available = available_host_memory();
  const std::string what = "encoding " + std::to_string(side) + " px tiles with model " + model_id();
  const BatchFit fit = fit_batch(
      requested, [&](size_t batch) { return peak_bytes(side, batch); }, available, what);
  if (fit.batch < requested) {
    spdlog::warn(
        "{}: a batch of {} needs about {} of memory at its peak, {} is available ({}); batches lowered to {} "
        "(about {})",
        what, requested, format_bytes(fit.requested_bytes), format_bytes(available.bytes), available.source, fit.batch,
        format_bytes(fit.fitted_bytes));
  }
  return fit.batch;
}

HostBatch LatentEncoder::make_batch(size_t capacity, int side) const {
  check_tile_side(side);
  HostBatch batch;
  batch.storage_ = std::make_unique<HostBatch::Storage>();
  batch.storage_->pixels = torch::empty({int64_t(capacity), side, side, 3},
                                        torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(on_gpu()));
  batch.capacity_ = capacity;
  batch.side_ = side;
  return batch;
}

std::vector<store::TensorRecord> LatentEncoder::encode(const HostBatch& batch, size_t count) {
  if (count == 0) return {};
  if (count > batch.capacity_) throw Error("cannot encode more tiles than the batch holds");
  torch::NoGradGuard no_grad;
  // OpenMP's thread count is per calling thread, and the graphs call from
  // TBB's workers: set it here, not once at construction.
  if (impl_->device.is_cpu()) model::set_cpu_threads(impl_->threads);
  const auto& m = impl_->model;
  // NHWC bytes viewed as NCHW: on CUDA that is already the channels-last
  // layout the placed module expects, so no transpose is copied.
  torch::Tensor pixels = batch.storage_->pixels.narrow(0, 0, int64_t(count));
  pixels = pixels.to(impl_->device, /*non_blocking=*/true).permute({0, 3, 1, 2});
  // On the CPU the convolutions want plain NCHW: transpose the bytes, then widen.
  if (impl_->device.is_cpu()) pixels = pixels.contiguous();
  torch::Tensor x = pixels.to(torch::kFloat32).div_(127.5).sub_(1.0);
  torch::Tensor moments;
  {
    model::AutocastScope autocast(impl_->device, impl_->precision);
    moments = m.module->encode_moments(x);
  }
  const auto kind = m.architecture == "vq" ? store::TensorKind::kVqLatent : store::TensorKind::kKlMoments;
  return to_tensor_records(moments, kind, impl_->stored_dtype, m.scale_factor,
                           "first-stage model " + m.id + " (weights " + impl_->weights_path + ")");
}

}  // namespace tessera::runtime
