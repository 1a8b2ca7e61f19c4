#pragma once

#include <string>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// Reads a PNG or JPEG (any format libvips loads) as 8-bit RGB; alpha is
// flattened on white. Throws tessera::Error naming the file.
RgbImage read_image(const std::string& path);
// The same for an image file's bytes; `what` names them in errors.
RgbImage decode_image(const std::string& bytes, const std::string& what);

}  // namespace tessera::stages
