#pragma once

// The encode stage: RGB tiles -> first-stage latents, as store records.
// Torch stays behind this header so that the pipeline graphs compile without
// it. On CUDA the host side of a batch is pinned memory and the copy to the
// GPU is asynchronous, so decoding the next batch overlaps the model.

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "store/model_record.h"
#include "store/tensor_record.h"

namespace tessera::runtime {

struct LatentEncoderOptions {
  std::string config;                  // LDM or autoencoder YAML
  std::string weights;                 // safetensors or *.safetensors.index.json
  std::string device = "auto";         // auto | cpu | cuda | cuda:N
  std::string compute_dtype = "fp32";  // fp16 / bf16 autocast on CUDA only
  store::TensorDType stored_dtype = store::TensorDType::kF16;
  int threads = 0;  // CPU intra-op threads; 0 = one per core
};

// Room for up to capacity() tiles of side x side RGB (HWC, 8-bit), filled by
// any thread, one tile each; pinned when the encoder runs on a GPU. Made by
// LatentEncoder::make_batch, whose memory `owner` keeps alive.
class HostBatch {
 public:
  HostBatch() = default;
  HostBatch(std::shared_ptr<void> owner, uint8_t* pixels, size_t capacity, int side)
      : owner_(std::move(owner)), pixels_(pixels), capacity_(capacity), side_(side) {}

  uint8_t* tile(size_t index) {
    if (index >= capacity_)
      throw Error("tile " + std::to_string(index) + " is outside a batch of " + std::to_string(capacity_));
    return pixels_ + index * size_t(side_) * size_t(side_) * 3;
  }
  size_t capacity() const { return capacity_; }
  int side() const { return side_; }
  const void* owner() const { return owner_.get(); }

 private:
  std::shared_ptr<void> owner_;
  uint8_t* pixels_ = nullptr;
  size_t capacity_ = 0;
  int side_ = 0;
};

// A first-stage model placed on its device. An interface, so that code which
// only passes one along (the ingest graph) does not link LibTorch: open() is
// the one place an encoder is made.
class LatentEncoder {
 public:
  using Opener = std::unique_ptr<LatentEncoder> (*)(const LatentEncoderOptions& options);

  // Loads and checks the model (runtime/model_loading.h) and places it.
  static std::unique_ptr<LatentEncoder> open(const LatentEncoderOptions& options);

  virtual ~LatentEncoder() = default;
  LatentEncoder() = default;
  LatentEncoder(const LatentEncoder&) = delete;
  LatentEncoder& operator=(const LatentEncoder&) = delete;

  virtual const std::string& model_id() const = 0;
  virtual bool on_gpu() const = 0;
  // The record to register in the store for tiles of this side.
  virtual store::ModelRecord model_record(int tile_side) const = 0;
  // Throws tessera::Error unless the side is a positive multiple of the
  // model's downsampling factor.
  virtual void check_tile_side(int tile_side) const = 0;

  // The estimated peak bytes of encoding `batch` tiles of `side` px
  // (runtime/memory_estimate.h).
  virtual uint64_t peak_bytes(int side, size_t batch) const = 0;
  // The largest batch up to `requested` whose estimated peak fits the host's
  // available memory (runtime/memory_budget.h), with a warning giving the
  // numbers when it is lower; throws tessera::Error with the numbers when not
  // even one tile fits. On a GPU `requested`: LibTorch reports running out of
  // GPU memory as an error that fails the batch with its message.
  virtual size_t affordable_batch(size_t requested, int side) const = 0;

  virtual HostBatch make_batch(size_t capacity, int side) const = 0;
  // Encodes tiles [0, count) of a batch this encoder made: images scaled to
  // [-1, 1] as LDM's loaders do, through quant_conv(encoder(x)). VQ gives the
  // pre-quantisation latent, KL the posterior moments. Thread-compatible: one
  // caller at a time.
  virtual std::vector<store::TensorRecord> encode(const HostBatch& batch, size_t count) = 0;
};

}  // namespace tessera::runtime
