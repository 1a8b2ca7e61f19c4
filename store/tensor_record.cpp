#include "store/tensor_record.h"

#include <cstring>

#include "base/error.h"

namespace tessera::store {
namespace {

constexpr uint8_t kFormat = 1;
constexpr size_t kMaxRank = 8;

void put_u32(std::string& out, uint32_t v) {
  for (int i = 0; i < 4; ++i) out.push_back(static_cast<char>(v >> (8 * i)));
}

uint32_t get_u32(const unsigned char* p) {
  return uint32_t{p[0]} | (uint32_t{p[1]} << 8) | (uint32_t{p[2]} << 16) | (uint32_t{p[3]} << 24);
}

}  // namespace

const char* to_string(TensorKind kind) {
  switch (kind) {
    case TensorKind::kVqLatent:
      return "vq_latent";
    case TensorKind::kKlMoments:
      return "kl_moments";
    case TensorKind::kTextHidden:
      return "text_hidden";
    case TensorKind::kImageFeatures:
      return "image_features";
  }
  return "unknown";
}

const char* to_string(TensorDType dtype) {
  switch (dtype) {
    case TensorDType::kF16:
      return "fp16";
    case TensorDType::kBF16:
      return "bf16";
    case TensorDType::kF32:
      return "fp32";
  }
  return "unknown";
}

TensorDType tensor_dtype_from_string(const std::string& text) {
  if (text == "fp16") return TensorDType::kF16;
  if (text == "bf16") return TensorDType::kBF16;
  if (text == "fp32") return TensorDType::kF32;
  throw Error("unknown tensor dtype '" + text + "' (expected fp16, bf16 or fp32)");
}

size_t element_bytes(TensorDType dtype) { return dtype == TensorDType::kF32 ? 4 : 2; }

size_t TensorRecord::element_count() const {
  size_t n = 1;
  for (const uint32_t d : shape) n *= d;
  return n;
}

std::string encode_tensor_record(const TensorRecord& record) {
  if (record.shape.empty() || record.shape.size() > kMaxRank) throw Error("tensor record rank must be 1..8");
  if (record.data.size() != record.element_count() * element_bytes(record.dtype)) {
    throw Error("tensor record data holds " + std::to_string(record.data.size()) + " bytes, its shape needs " +
                std::to_string(record.element_count() * element_bytes(record.dtype)));
  }
  std::string out;
  out.reserve(8 + 4 * record.shape.size() + record.data.size());
  out.push_back(static_cast<char>(kFormat));
  out.push_back(static_cast<char>(record.kind));
  out.push_back(static_cast<char>(record.dtype));
  out.push_back(static_cast<char>(record.shape.size()));
  for (const uint32_t d : record.shape) put_u32(out, d);
  uint32_t scale_bits;
  std::memcpy(&scale_bits, &record.scale_factor, 4);
  put_u32(out, scale_bits);
  out.append(record.data);
  return out;
}

TensorRecord decode_tensor_record(std::string_view bytes) {
  const auto* p = reinterpret_cast<const unsigned char*>(bytes.data());
  if (bytes.size() < 4) throw Error("tensor record of " + std::to_string(bytes.size()) + " bytes is truncated");
  if (p[0] != kFormat) throw Error("tensor record has unknown format " + std::to_string(p[0]));
  TensorRecord record;
  if (p[1] < 1 || p[1] > 4) throw Error("tensor record has unknown kind " + std::to_string(p[1]));
  if (p[2] < 1 || p[2] > 3) throw Error("tensor record has unknown dtype " + std::to_string(p[2]));
  record.kind = static_cast<TensorKind>(p[1]);
  record.dtype = static_cast<TensorDType>(p[2]);
  const size_t rank = p[3];
  if (rank < 1 || rank > kMaxRank) throw Error("tensor record has rank " + std::to_string(rank));
  const size_t header = 4 + 4 * rank + 4;
  if (bytes.size() < header) throw Error("tensor record header is truncated");
  for (size_t i = 0; i < rank; ++i) record.shape.push_back(get_u32(p + 4 + 4 * i));
  const uint32_t scale_bits = get_u32(p + 4 + 4 * rank);
  std::memcpy(&record.scale_factor, &scale_bits, 4);
  const size_t expected = record.element_count() * element_bytes(record.dtype);
  if (bytes.size() - header != expected) {
    throw Error("tensor record holds " + std::to_string(bytes.size() - header) + " data bytes, its header says " +
                std::to_string(expected));
  }
  record.data.assign(bytes.substr(header));
  return record;
}

}  // namespace tessera::store
