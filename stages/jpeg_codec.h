#pragma once

#include <string>
#include <string_view>

#include "stages/rgb_image.h"

namespace tessera::stages {

// Tile pixels are stored as baseline JPEG, 4:4:4 (no chroma subsampling: the
// thin eosin/haematoxylin boundaries are chroma edges). libjpeg-turbo handles
// are per thread.
std::string encode_jpeg(const RgbImage& image, int quality);
RgbImage decode_jpeg(std::string_view bytes);

}  // namespace tessera::stages
