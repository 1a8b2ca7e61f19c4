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

namespace {

// What HostBatch::owner() points to for batches this encoder makes.
struct TensorBatch {
  torch::Tensor pixels;  // (capacity, side, side, 3) uint8
};

class TorchLatentEncoder final : public LatentEncoder {
 public:
  explicit TorchLatentEncoder(const LatentEncoderOptions& options);

  const std::string& model_id() const override { return model_.id; }
  bool on_gpu() const override { return device_.is_cuda(); }
  store::ModelRecord model_record(int tile_side) const override;
  void check_tile_side(int tile_side) const override;
  uint64_t peak_bytes(int side, size_t batch) const override;
  size_t affordable_batch(size_t requested, int side) const override;
  HostBatch make_batch(size_t capacity, int side) const override;
  std::vector<store::TensorRecord> encode(const HostBatch& batch, size_t count) override;

 private:
  LoadedAutoencoder model_;
  torch::Device device_ = torch::kCPU;
  model::Precision precision_ = model::Precision::kFp32;
  store::TensorDType stored_dtype_ = store::TensorDType::kF16;
  int threads_ = 0;
  std::string config_path_;
  std::string weights_path_;
};

TorchLatentEncoder::TorchLatentEncoder(const LatentEncoderOptions& options) {
  device_ = model::resolve_device(options.device);
  precision_ = model::parse_precision(options.compute_dtype);
  if (device_.is_cpu() && precision_ != model::Precision::kFp32) {
    throw Error("--dtype " + options.compute_dtype + " needs a GPU; on the CPU the VAE runs in fp32");
  }
  stored_dtype_ = options.stored_dtype;
  threads_ = options.threads;
  config_path_ = std::filesystem::absolute(options.config).string();
  weights_path_ = std::filesystem::absolute(options.weights).string();
  if (device_.is_cpu()) model::set_cpu_threads(options.threads);
  model_ = load_autoencoder(options.config, options.weights);
  model::place_module(*model_.module, device_);
}

void TorchLatentEncoder::check_tile_side(int tile_side) const {
  const int f = model_.downsample;
  if (tile_side <= 0 || tile_side % f != 0) {
    throw Error("tiles of " + std::to_string(tile_side) + " px cannot be encoded by a VAE that downsamples by " +
                std::to_string(f) + ": the side must be a multiple of it");
  }
}

store::ModelRecord TorchLatentEncoder::model_record(int tile_side) const {
  check_tile_side(tile_side);
  const auto& m = model_;
  store::ModelRecord record;
  record.id = m.id;
  record.role = "first_stage";
  record.architecture = m.architecture;
  const auto cells = uint32_t(tile_side / m.downsample);
  record.output_shape = {uint32_t(m.latent_channels), cells, cells};
  record.scale_factor = m.scale_factor;
  record.stored_dtype = store::to_string(stored_dtype_);
  record.config_path = config_path_;
  record.weights_path = weights_path_;
  record.tile_size = tile_side;
  return record;
}

uint64_t TorchLatentEncoder::peak_bytes(int side, size_t batch) const {
  return encode_peak_bytes(model_.config, side, batch);
}

size_t TorchLatentEncoder::affordable_batch(size_t requested, int side) const {
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

HostBatch TorchLatentEncoder::make_batch(size_t capacity, int side) const {
  check_tile_side(side);
  auto storage = std::make_shared<TensorBatch>();
  storage->pixels = torch::empty({int64_t(capacity), side, side, 3},
                                 torch::TensorOptions().dtype(torch::kUInt8).pinned_memory(on_gpu()));
  uint8_t* pixels = storage->pixels.data_ptr<uint8_t>();
  return HostBatch(std::move(storage), pixels, capacity, side);
}

std::vector<store::TensorRecord> TorchLatentEncoder::encode(const HostBatch& batch, size_t count) {
  if (count == 0) return {};
  if (count > batch.capacity()) throw Error("cannot encode more tiles than the batch holds");
  torch::NoGradGuard no_grad;
  // OpenMP's thread count is per calling thread, and the graphs call from
  // TBB's workers: set it here, not once at construction.
  if (device_.is_cpu()) model::set_cpu_threads(threads_);
  const auto& m = model_;
  // NHWC bytes viewed as NCHW: on CUDA that is already the channels-last
  // layout the placed module expects, so no transpose is copied.
  torch::Tensor pixels = static_cast<const TensorBatch*>(batch.owner())->pixels.narrow(0, 0, int64_t(count));
  pixels = pixels.to(device_, /*non_blocking=*/true).permute({0, 3, 1, 2});
  // On the CPU the convolutions want plain NCHW: transpose the bytes, then widen.
  if (device_.is_cpu()) pixels = pixels.contiguous();
  torch::Tensor x = pixels.to(torch::kFloat32).div_(127.5).sub_(1.0);
  torch::Tensor moments;
  {
    model::AutocastScope autocast(device_, precision_);
    moments = m.module->encode_moments(x);
  }
  const auto kind = m.architecture == "vq" ? store::TensorKind::kVqLatent : store::TensorKind::kKlMoments;
  return to_tensor_records(moments, kind, stored_dtype_, m.scale_factor,
                           "first-stage model " + m.id + " (weights " + weights_path_ + ")");
}

}  // namespace

std::unique_ptr<LatentEncoder> LatentEncoder::open(const LatentEncoderOptions& options) {
  return std::make_unique<TorchLatentEncoder>(options);
}

}  // namespace tessera::runtime
