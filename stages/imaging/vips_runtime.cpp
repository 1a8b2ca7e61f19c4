#include "imaging/vips_runtime.h"

#include <vips/vips.h>
// After vips.h, which it needs and does not include itself.
#include <vips/vector.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

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

namespace {

// libvips's error text, read and cleared, without its trailing newlines.
std::string take_vips_error() {
  std::string text = vips_error_buffer();
  vips_error_clear();
  while (!text.empty() && text.back() == '\n') text.pop_back();
  return text;
}

Error vips_failure(const std::string& what, const std::string& text) {
  return Error(what + (text.empty() ? "" : ": " + text));
}

}  // namespace

void throw_vips_error(const std::string& what) { throw vips_failure(what, take_vips_error()); }

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

namespace {

// Rows one region covers: a strip of the image, small enough that a band's
// pixels pass through libvips in pieces, large enough to amortise a request.
constexpr int kRowsPerRequest = 64;

// Computes an sRGB 8-bit image in `threads` horizontal bands at once. Each
// band pulls its own regions through the pipeline on its own thread, as
// libvips's workers do, so the pixels are the ones one thread would compute.
RgbImage render_bands(VipsImage* image, int threads, const std::string& what) {
  const int width = vips_image_get_width(image);
  const int height = vips_image_get_height(image);
  RgbImage out(width, height);
  const int bands = std::clamp(threads, 1, std::max(1, height / kRowsPerRequest));
  std::vector<std::optional<std::string>> failures(static_cast<size_t>(bands));
  auto render = [&](int band) {
    const int top = int(int64_t(height) * band / bands);
    const int bottom = int(int64_t(height) * (band + 1) / bands);
    VipsRegion* region = vips_region_new(image);
    for (int y = top; y < bottom; y += kRowsPerRequest) {
      VipsRect rect{0, y, width, std::min(kRowsPerRequest, bottom - y)};
      if (vips_region_prepare(region, &rect)) {
        failures[size_t(band)] = take_vips_error();
        break;
      }
      for (int row = 0; row < rect.height; ++row) {
        std::memcpy(out.at(0, y + row), VIPS_REGION_ADDR(region, 0, y + row), size_t(width) * 3);
      }
    }
    g_object_unref(region);
  };
  std::vector<std::thread> workers;
  for (int band = 1; band < bands; ++band) workers.emplace_back(render, band);
  render(0);
  for (auto& worker : workers) worker.join();
  for (const auto& failure : failures) {
    if (failure) throw vips_failure(what, *failure);
  }
  return out;
}

}  // namespace

VipsRef wrap_rgb(const RgbImage& image) {
  VipsImage* out = vips_image_new_from_memory(image.pixels.data(), image.pixels.size(), image.width, image.height, 3,
                                              VIPS_FORMAT_UCHAR);
  if (!out)
    throw_vips_error("cannot wrap a " + std::to_string(image.width) + "x" + std::to_string(image.height) + " image");
  return VipsRef(out);
}

RgbImage to_rgb(VipsImage* image, const std::string& what, int threads) {
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
  return render_bands(current.get(), threads, what);
}

std::string encode_png(const RgbImage& image, const std::string& what) {
  VipsRef wrapped = wrap_rgb(image);
  void* buffer = nullptr;
  size_t length = 0;
  if (vips_pngsave_buffer(wrapped.get(), &buffer, &length, "compression", 1, nullptr)) {
    throw_vips_error("cannot encode " + what);
  }
  const std::unique_ptr<void, decltype(&g_free)> owned(buffer, &g_free);
  return std::string(static_cast<const char*>(buffer), length);
}

void save_png(const RgbImage& image, const std::string& path) { write_file_atomically(path, encode_png(image, path)); }

}  // namespace tessera::stages
