#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// libjpeg's quality scale.
inline constexpr int kMinJpegQuality = 1;
inline constexpr int kMaxJpegQuality = 100;

struct JpegOptions {
  int quality = 90;  // kMinJpegQuality..kMaxJpegQuality. Default: 90.
  // 4:4:4 keeps full chroma: haematoxylin/eosin boundaries are chroma edges.
  // Default: true (bench/tile_codec measures the alternatives).
  bool full_chroma = true;
  // libjpeg-turbo's fast integer DCT. Default: false.
  bool fast_dct = false;
};

// Tile pixels are stored as baseline JPEG. libjpeg-turbo handles are per thread.
std::string encode_jpeg(const RgbImage& image, const JpegOptions& options);
RgbImage decode_jpeg(std::string_view bytes);
// Decodes into `out` (width * height * 3 bytes), which must be the JPEG's size.
void decode_jpeg_into(std::string_view bytes, uint8_t* out, int width, int height);

}  // namespace tessera::stages
