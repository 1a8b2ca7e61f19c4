#include "imaging/vips_runtime.h"

#include <vips/vips.h>
// After vips.h, which it needs and does not include itself.
#include <vips/vector.h>

#include <cstring>
#include <memory>
#include <mutex>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {

void ensure_vips(int vips_threads) {
  static std::once_flag once;
  std::call_once(once, [vips_threads] {
    if (VIPS_INIT("tessera") != 0) throw_vips_error("cannot start libvips");
    vips_concurrency_set(vips_threads);
    // liborc 0.4.33's code memory is not thread-safe: orc_code_allocate_codemem
    // splits a chunk after releasing its mutex and orc_code_chunk_free merges
    // chunks with none held, while libvips 8.14 compiles and frees an orc
    // program for each reducev it builds, that is per tile on every reader
    // thread. Concurrent resamples then corrupt the heap (issue 14). Without
    // orc libvips runs its plain C loops; orc stays off for the whole process.
    vips_vector_set_enabled(FALSE);
    // Slides are read once, in a stream; caching their regions only costs memory.
    vips_cache_set_max(0);
  });
}

void throw_vips_error(const std::string& what) {
  std::string text = vips_error_buffer();
  vips_error_clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  throw Error(what + (text.empty() ? "" : ": " + text));
}

VipsRef::~VipsRef() {
  if (image_) g_object_unref(image_);
}

VipsRef& VipsRef::operator=(VipsRef&& other) noexcept {
  if (this != &other) {
    if (image_) g_object_unref(image_);
    image_ = other.image_;
    other.image_ = nullptr;
  }
  return *this;
}

VipsRef wrap_rgb(const RgbImage& image) {
  VipsImage* out = vips_image_new_from_memory(image.pixels.data(), image.pixels.size(), image.width, image.height, 3,
                                              VIPS_FORMAT_UCHAR);
  if (!out)
    throw_vips_error("cannot wrap a " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  return VipsRef(out);
}

RgbImage to_rgb(VipsImage* image, const std::string& what) {
  VipsRef current;
  g_object_ref(image);
  current = VipsRef(image);
  if (vips_image_hasalpha(current.get())) {
    VipsRef flat;
    double white[3] = {255, 255, 255};
    VipsArrayDouble* background = vips_array_double_new(white, 3);
    const int rc = vips_flatten(current.get(), flat.out(), "background", background, nullptr);
    vips_area_unref(VIPS_AREA(background));
    if (rc) throw_vips_error(what);
    current = std::move(flat);
  }
  if (current.get()->Type != VIPS_INTERPRETATION_sRGB || current.get()->Bands != 3) {
    VipsRef srgb;
    if (vips_colourspace(current.get(), srgb.out(), VIPS_INTERPRETATION_sRGB, nullptr)) throw_vips_error(what);
    current = std::move(srgb);
  }
  if (current.get()->BandFmt != VIPS_FORMAT_UCHAR) {
    VipsRef cast;
    if (vips_cast_uchar(current.get(), cast.out(), nullptr)) throw_vips_error(what);
    current = std::move(cast);
  }
  size_t size = 0;
  void* memory = vips_image_write_to_memory(current.get(), &size);
  if (!memory) throw_vips_error(what);
  RgbImage out(vips_image_get_width(current.get()), vips_image_get_height(current.get()));
  if (size != out.pixels.size()) {
    g_free(memory);
    throw Error(what + ": libvips returned " + std::to_string(size) + " bytes, expected " +
                std::to_string(out.pixels.size()));
  }
  std::memcpy(out.pixels.data(), memory, size);
  g_free(memory);
  return out;
}

void save_png(const RgbImage& image, const std::string& path) {
  VipsRef wrapped = wrap_rgb(image);
  void* buffer = nullptr;
  size_t length = 0;
  // Fastest deflate: QC pictures are looked at, not archived.
  if (vips_pngsave_buffer(wrapped.get(), &buffer, &length, "compression", 1, nullptr)) {
    throw_vips_error("cannot encode " + path);
  }
  const std::unique_ptr<void, decltype(&g_free)> owned(buffer, &g_free);
  write_file_atomically(path, std::string_view(static_cast<const char*>(buffer), length));
}

}  // namespace tessera::stages
