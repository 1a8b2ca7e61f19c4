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
// any thread, one tile each; pinned when the encoder runs on a GPU.
class HostBatch {
 public:
  HostBatch();
  ~HostBatch();
  HostBatch(HostBatch&&) noexcept;
  HostBatch& operator=(HostBatch&&) noexcept;

  uint8_t* tile(size_t index);
  size_t capacity() const { return capacity_; }
  int side() const { return side_; }

 private:
  friend class LatentEncoder;
  struct Storage;
  std::unique_ptr<Storage> storage_;
  size_t capacity_ = 0;
  int side_ = 0;
};

class LatentEncoder {
 public:
  // Loads and checks the model (stages/model_loading.h) and places it.
  explicit LatentEncoder(const LatentEncoderOptions& options);
  ~LatentEncoder();
  LatentEncoder(const LatentEncoder&) = delete;
  LatentEncoder& operator=(const LatentEncoder&) = delete;

  const std::string& model_id() const;
  bool on_gpu() const;
  // The record to register in the store for tiles of this side.
  store::ModelRecord model_record(int tile_side) const;
  // Throws tessera::Error unless the side is a positive multiple of the
  // model's downsampling factor.
  void check_tile_side(int tile_side) const;

  // The estimated peak bytes of encoding `batch` tiles of `side` px
  // (runtime/memory_estimate.h).
  uint64_t peak_bytes(int side, size_t batch) const;
  // The largest batch up to `requested` whose estimated peak fits the host's
  // available memory (runtime/memory_budget.h), with a warning giving the
  // numbers when it is lower; throws tessera::Error with the numbers when not
  // even one tile fits. On a GPU `requested`: LibTorch reports running out of
  // GPU memory as an error that fails the batch with its message.
  size_t affordable_batch(size_t requested, int side) const;

  HostBatch make_batch(size_t capacity, int side) const;
  // Encodes tiles [0, count) of the batch: images scaled to [-1, 1] as LDM's
  // loaders do, through quant_conv(encoder(x)). VQ gives the pre-quantisation
  // latent, KL the posterior moments. Thread-compatible: one caller at a time.
  std::vector<store::TensorRecord> encode(const HostBatch& batch, size_t count);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
