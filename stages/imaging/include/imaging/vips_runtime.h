#pragma once

#include <string>
#include <vector>

#include "imaging/rgb_image.h"

typedef struct _VipsImage VipsImage;

namespace tessera::stages {

// Starts libvips once per process. Its own thread pool is capped at
// `vips_threads` so that it does not compete with TBB for the cores.
void ensure_vips(int vips_threads = 1);

// Reads and clears libvips's error buffer (shared by all threads) and throws
// tessera::Error with `what` and that text.
[[noreturn]] void throw_vips_error(const std::string& what);

// Owns a VipsImage reference.
class VipsRef {
 public:
  VipsRef() = default;
  explicit VipsRef(VipsImage* image) : image_(image) {}
  ~VipsRef();
  VipsRef(VipsRef&& other) noexcept : image_(other.image_) { other.image_ = nullptr; }
  VipsRef& operator=(VipsRef&& other) noexcept;
  VipsRef(const VipsRef&) = delete;
  VipsRef& operator=(const VipsRef&) = delete;

  VipsImage* get() const { return image_; }
  VipsImage** out() { return &image_; }

 private:
  VipsImage* image_ = nullptr;
};

// Wraps RGB pixels without copying; `image` must outlive the result.
VipsRef wrap_rgb(const RgbImage& image);
// Renders a VipsImage (any band count is flattened on white, then sRGB 8-bit),
// computed in `threads` horizontal bands at once: the same pixels whatever
// the count, since each output pixel's inputs do not depend on who asks.
RgbImage to_rgb(VipsImage* image, const std::string& what, int threads = 1);

// The PNG file's bytes, at zlib's fastest level: these pictures are looked
// at, not archived. `what` names the picture in an error.
std::string encode_png(const RgbImage& image, const std::string& what);
// Written under a temporary name and renamed (base/file_io.h): the PNG is
// whole or absent.
void save_png(const RgbImage& image, const std::string& path);

}  // namespace tessera::stages
