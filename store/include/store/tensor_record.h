#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::store {

// What a stored tensor holds, so that a reader never has to guess.
enum class TensorKind : uint8_t {
  // A VQ first stage's pre-quantisation latent h = quant_conv(encoder(x)), as
  // LDM's encode_first_stage returns it for VQModelInterface: (C, H, W).
  kVqLatent = 1,
  // A KL first stage's posterior moments as quant_conv gives them: channels
  // [0, z) are the mean, [z, 2z) the log-variance (not yet clamped): (2z, H, W).
  kKlMoments = 2,
  // A frozen text encoder's last hidden state for one padded prompt: (L, D).
  kTextHidden = 3,
  // A feature extractor's output for one image, as `tessera evaluate`
  // compares real and synthetic sets in it: (D).
  kImageFeatures = 4,
};

enum class TensorDType : uint8_t { kF16 = 1, kBF16 = 2, kF32 = 3 };

const char* to_string(TensorKind kind);
const char* to_string(TensorDType dtype);
TensorDType tensor_dtype_from_string(const std::string& text);  // "fp16", "bf16" or "fp32"
size_t element_bytes(TensorDType dtype);

// One tensor as the `latents`, `embeddings` and `features` column families store it:
//   u8 format (1), u8 kind, u8 dtype, u8 rank, rank x u32 LE dims,
//   f32 LE scale factor, then the elements, little-endian, row-major.
// The scale factor is the one the model's LDM multiplies latents by before
// diffusion (1 for text); stored values are never pre-scaled.
struct TensorRecord {
  TensorKind kind = TensorKind::kVqLatent;
  TensorDType dtype = TensorDType::kF16;
  std::vector<uint32_t> shape;
  float scale_factor = 1.0f;
  std::string data;

  size_t element_count() const;
};

std::string encode_tensor_record(const TensorRecord& record);
// Throws tessera::Error for an unknown format, kind or dtype, or a payload
// whose size disagrees with the header.
TensorRecord decode_tensor_record(std::string_view bytes);

}  // namespace tessera::store
