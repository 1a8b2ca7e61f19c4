#include "imaging/image_file.h"

#include <vips/vips.h>

#include "imaging/vips_runtime.h"

namespace tessera::stages {

RgbImage read_image(const std::string& path) {
  ensure_vips();
  // Sequential access: the image is read once, top to bottom.
  VipsRef image(vips_image_new_from_file(path.c_str(), "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!image.get()) throw_vips_error("cannot read image " + path);
  return to_rgb(image.get(), "cannot read image " + path);
}

RgbImage decode_image(const std::string& bytes, const std::string& what) {
  ensure_vips();
  VipsRef image(vips_image_new_from_buffer(bytes.data(), bytes.size(), "", "access", VIPS_ACCESS_SEQUENTIAL, nullptr));
  if (!image.get()) throw_vips_error("cannot decode image " + what);
  return to_rgb(image.get(), "cannot decode image " + what);
}

}  // namespace tessera::stages
