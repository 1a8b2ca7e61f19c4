#pragma once

#include <string>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// Reads a PNG or JPEG (any format libvips loads) as 8-bit RGB; alpha is
// flattened on white. Throws tessera::Error naming the file.
RgbImage read_image(const std::string& path);

}  // namespace tessera::stages
