#pragma once

// Reading and writing safetensors files (https://github.com/huggingface/safetensors):
// an 8-byte little-endian header length N, N bytes of JSON describing each
// tensor's dtype, shape and byte range, then the data buffer. Also sharded
// weight sets described by a Hugging Face `*.safetensors.index.json`.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "model/safetensors_header.h"
#include "model/weights_error.h"

namespace tessera::model {

// IEEE half and bfloat16 conversions. The narrowing ones round to nearest,
// ties to even, and keep infinities and NaNs.
float f16_to_float(uint16_t bits);
uint16_t float_to_f16(float value);
float bf16_to_float(uint16_t bits);
uint16_t float_to_bf16(float value);
// 8-bit floats: E5M2 (IEEE-like, with infinities) and E4M3 "fn" (no
// infinities, only S.1111.111 is NaN), as PyTorch's float8 types.
float f8e5m2_to_float(uint8_t bits);
float f8e4m3_to_float(uint8_t bits);

// A tensor inside a SafetensorsFile; `data` points into the file's mapping
// (not necessarily aligned to the element size) and lives as long as the file.
struct TensorView {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  const uint8_t* data = nullptr;
  size_t bytes = 0;

  size_t element_count() const;
  // The values converted to float / double. Every dtype converts (BOOL as 0 or
  // 1, 64-bit integers with rounding); F64 -> float32 rounds to nearest.
  std::vector<float> to_float32() const;
  std::vector<double> to_float64() const;
  // The raw bytes reinterpreted as little-endian int64 (I64, I32, I16, I8, U8,
  // U16, U32, BOOL; U64 values above INT64_MAX and float dtypes throw).
  std::vector<int64_t> to_int64() const;
};

// A read-only safetensors file, memory-mapped, validated when opened.
class SafetensorsFile {
 public:
  // Opens and validates `path`; throws WeightsError naming the file.
  static SafetensorsFile open(const std::string& path);
  // Parses an in-memory copy of a file's bytes; `name` is used in errors.
  static SafetensorsFile from_bytes(std::vector<uint8_t> bytes, const std::string& name);

  SafetensorsFile(SafetensorsFile&& other) noexcept;
  SafetensorsFile& operator=(SafetensorsFile&& other) noexcept;
  SafetensorsFile(const SafetensorsFile&) = delete;
  SafetensorsFile& operator=(const SafetensorsFile&) = delete;
  ~SafetensorsFile();

  const std::string& path() const { return path_; }
  const TensorView* find(std::string_view name) const;
  const std::vector<TensorView>& tensors() const { return tensors_; }  // sorted by name
  const std::map<std::string, std::string>& metadata() const { return metadata_; }

 private:
  SafetensorsFile() = default;
  void parse(const uint8_t* bytes, size_t size);
  void release() noexcept;

  std::string path_;
  void* mapping_ = nullptr;  // mmap'd region, or nullptr
  size_t mapping_size_ = 0;
  std::vector<uint8_t> owned_;  // from_bytes storage
  std::vector<TensorView> tensors_;
  std::map<std::string, std::string> metadata_;
};

// A tensor to write: raw little-endian bytes of `dtype`, laid out for `shape`.
struct TensorData {
  std::string name;
  DType dtype = DType::kF32;
  std::vector<int64_t> shape;
  std::vector<uint8_t> bytes;

  // Builds a tensor of `dtype` (F32, F64, F16 or BF16) from float values.
  static TensorData from_floats(std::string name, std::vector<int64_t> shape, const std::vector<float>& values,
                                DType dtype = DType::kF32);
  static TensorData from_doubles(std::string name, std::vector<int64_t> shape, const std::vector<double>& values);
  // Builds an I64 tensor.
  static TensorData from_int64(std::string name, std::vector<int64_t> shape, const std::vector<int64_t>& values);
};

// Writes a safetensors file with the tensors sorted by name and the header
// padded with spaces to a multiple of 8 bytes. The file is written beside
// `path` under a temporary name and renamed into place.
void write_safetensors(const std::string& path, const std::vector<TensorData>& tensors,
                       const std::map<std::string, std::string>& metadata = {});

// Weights from one .safetensors file or from shards listed by a Hugging Face
// index (`*.safetensors.index.json`: {"metadata": {...}, "weight_map":
// {"tensor": "shard.safetensors", ...}}, shard names relative to the index's
// folder). Every tensor must be in exactly one shard, the one the index names.
class WeightsSet {
 public:
  // Opens `path`: an index when it ends in ".json", else one safetensors file.
  static WeightsSet open(const std::string& path);

  const TensorView* find(std::string_view name) const;
  // Like find, but throws WeightsError naming the set when absent.
  const TensorView& at(std::string_view name) const;
  std::vector<std::string> names() const;  // sorted
  size_t size() const { return index_.size(); }
  // The index's "metadata" (non-string values as compact JSON), or the single
  // file's __metadata__.
  const std::map<std::string, std::string>& metadata() const { return metadata_; }
  const std::string& path() const { return path_; }

 private:
  void add_shard(std::unique_ptr<SafetensorsFile> shard);

  std::string path_;
  std::vector<std::unique_ptr<SafetensorsFile>> shards_;
  std::map<std::string, const TensorView*, std::less<>> index_;
  std::map<std::string, std::string> metadata_;
};

}  // namespace tessera::model
