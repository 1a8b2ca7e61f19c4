#include "slide/tiff_level_reader.h"

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "slide/jpeg_tile_decoder.h"
#include "slide/resample_method.h"

namespace tessera::stages {
namespace {

// Decoded tiles kept for neighbouring reads: 32 MiB, like OpenSlide's cache.
constexpr size_t kCacheBytes = size_t{32} << 20;
// A tile's compressed bytes beyond this multiple of its decoded size mean a
// corrupt byte count, refused before anything is allocated for it.
constexpr uint64_t kMaxCompressedRatio = 4;

// What libtiff reported on one handle. Its JPEG codec passes libjpeg's
// warnings on ("Corrupt JPEG data: ...", "Premature end of JPEG file"):
// libjpeg then fills in what it could not decode and carries on, so a warning
// while a tile is decoded means the tile's pixels are not the slide's.
struct Diagnostics {
  std::string first;  // "module: message"
  int count = 0;
  void clear() {
    first.clear();
    count = 0;
  }
};

// Per handle, not libtiff's global handlers: libvips installs its own global
// ones, which print "VIPS-WARNING" and let the read succeed.
int record_diagnostic(TIFF*, void* user_data, const char* module, const char* format, va_list args) {
  auto& diagnostics = *static_cast<Diagnostics*>(user_data);
  if (diagnostics.count++ == 0) {
    char message[512];
    std::vsnprintf(message, sizeof message, format, args);
    diagnostics.first = module && *module ? std::string(module) + ": " + message : std::string(message);
  }
  return 1;  // handled: the global handlers are not called
}

TIFF* open_tiff(const std::string& path, Diagnostics& diagnostics) {
  TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(options, record_diagnostic, &diagnostics);
  TIFFOpenOptionsSetWarningHandlerExtR(options, record_diagnostic, &diagnostics);
  TIFF* tiff = TIFFOpenExt(path.c_str(), "rm", options);
  TIFFOpenOptionsFree(options);
  return tiff;
}

}  // namespace

struct TiffLevelReader::Handle {
  Diagnostics diagnostics;  // libtiff keeps its address for the handle's life
  TIFF* tiff = nullptr;
  std::unique_ptr<JpegTileDecoder> scaled;  // made on the first reduced decode
  std::vector<uint8_t> compressed;
  ~Handle() {
    if (tiff) TIFFClose(tiff);
  }
};

std::unique_ptr<TiffLevelReader> TiffLevelReader::probe(const std::string& path, const std::string& vendor,
                                                        int64_t width, int64_t height) {
  if (vendor != "generic-tiff" && vendor != "aperio") return nullptr;
  // A probe stays silent: what it cannot read, OpenSlide reads instead.
  Diagnostics ignored;
  TIFF* tiff = open_tiff(path, ignored);
  if (!tiff) return nullptr;
  std::unique_ptr<TiffLevelReader> reader;
  int directory = 0;
  do {
    uint32_t w = 0, h = 0, tw = 0, th = 0;
    uint16_t compression = 0, samples = 0, bits = 0, planar = PLANARCONFIG_CONTIG, photometric = 0;
    if (!TIFFIsTiled(tiff) || !TIFFGetField(tiff, TIFFTAG_IMAGEWIDTH, &w) ||
        !TIFFGetField(tiff, TIFFTAG_IMAGELENGTH, &h) || int64_t(w) != width || int64_t(h) != height) {
      continue;
    }
    TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
    TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_COMPRESSION, &compression);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_SAMPLESPERPIXEL, &samples);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_BITSPERSAMPLE, &bits);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_PLANARCONFIG, &planar);
    TIFFGetFieldDefaulted(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
    if (compression != COMPRESSION_JPEG || samples != 3 || bits != 8 || planar != PLANARCONFIG_CONTIG ||
        (photometric != PHOTOMETRIC_YCBCR && photometric != PHOTOMETRIC_RGB) || tw == 0 || th == 0) {
      break;
    }
    reader.reset(new TiffLevelReader());
    reader->path_ = path;
    reader->directory_ = directory;
    reader->width_ = width;
    reader->height_ = height;
    reader->tile_width_ = tw;
    reader->tile_height_ = th;
    reader->tiles_across_ = (w + tw - 1) / tw;
    for (const int scale : kDecodeScales) {
      if (tw % uint32_t(scale) == 0 && th % uint32_t(scale) == 0) reader->largest_decode_scale_ = scale;
    }
    break;
  } while (++directory, TIFFReadDirectory(tiff));
  TIFFClose(tiff);
  return reader;
}

TiffLevelReader::~TiffLevelReader() = default;

std::unique_ptr<TiffLevelReader::Handle> TiffLevelReader::acquire() const {
  {
    std::lock_guard lock(pool_mutex_);
    if (!pool_.empty()) {
      auto handle = std::move(pool_.back());
      pool_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  handle->tiff = open_tiff(path_, handle->diagnostics);
  if (!handle->tiff || !TIFFSetDirectory(handle->tiff, tdir_t(directory_))) {
    throw Error(path_ + ": libtiff cannot open directory " + std::to_string(directory_));
  }
  uint16_t photometric = 0;
  TIFFGetFieldDefaulted(handle->tiff, TIFFTAG_PHOTOMETRIC, &photometric);
  // Let libjpeg convert YCbCr to RGB, as OpenSlide does.
  if (photometric == PHOTOMETRIC_YCBCR) TIFFSetField(handle->tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  return handle;
}

void TiffLevelReader::release(std::unique_ptr<Handle> handle) const {
  std::lock_guard lock(pool_mutex_);
  pool_.push_back(std::move(handle));
}

void TiffLevelReader::decode(Handle& handle, uint32_t index, int scale, std::vector<uint8_t>& pixels) const {
  handle.diagnostics.clear();
  std::string failure;
  if (scale == 1) {
    const tmsize_t got = TIFFReadEncodedTile(handle.tiff, index, pixels.data(), tmsize_t(pixels.size()));
    if (got < 0 && handle.diagnostics.count == 0) failure = "corrupt or truncated file";
  } else {
    if (!handle.scaled) handle.scaled = JpegTileDecoder::for_directory(handle.tiff);
    const uint64_t size = TIFFGetStrileByteCount(handle.tiff, index);
    if (size > kMaxCompressedRatio * uint64_t(tile_width_) * tile_height_ * 3) {
      failure = "its byte count " + std::to_string(size) + " is implausible";
    } else {
      handle.compressed.resize(size_t(size));
      const tmsize_t got = TIFFReadRawTile(handle.tiff, index, handle.compressed.data(), tmsize_t(size));
      if (handle.diagnostics.count == 0 && got != tmsize_t(size)) failure = "corrupt or truncated file";
      if (failure.empty() && handle.diagnostics.count == 0 &&
          !handle.scaled->decode(handle.compressed.data(), size_t(size), scale, pixels.data(), int(tile_width_) / scale,
                                 int(tile_height_) / scale, failure)) {
        failure = "JPEG: " + failure;
      }
    }
  }
  if (handle.diagnostics.count > 0) failure = handle.diagnostics.first;
  if (!failure.empty()) {
    throw Error(path_ + ": cannot decode tile " + std::to_string(index) + " of directory " +
                std::to_string(directory_) + (scale > 1 ? " at 1/" + std::to_string(scale) : std::string()) + " (" +
                failure + ")");
  }
}

std::shared_ptr<const std::vector<uint8_t>> TiffLevelReader::tile(uint32_t index, int scale) const {
  const CacheKey key = CacheKey{index} << 4 | CacheKey(scale);
  {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.position);
      return it->second.pixels;
    }
  }
  auto pixels = std::make_shared<std::vector<uint8_t>>(size_t(tile_width_ / uint32_t(scale)) *
                                                       (tile_height_ / uint32_t(scale)) * 3);
  auto handle = acquire();
  // On failure the handle is dropped with the tile: its codec state is not trusted again.
  decode(*handle, index, scale, *pixels);
  release(std::move(handle));
  std::lock_guard lock(cache_mutex_);
  if (cache_.count(key) == 0) {
    lru_.push_front(key);
    cache_[key] = CacheEntry{pixels, lru_.begin()};
    cache_bytes_ += pixels->size();
    while (cache_bytes_ > kCacheBytes && cache_.size() > 1) {
      const auto oldest = cache_.find(lru_.back());
      cache_bytes_ -= oldest->second.pixels->size();
      cache_.erase(oldest);
      lru_.pop_back();
    }
  }
  return pixels;
}

RgbImage TiffLevelReader::read(int64_t x, int64_t y, int64_t w, int64_t h, int scale) const {
  if (scale < 1 || scale > largest_decode_scale_ || largest_decode_scale_ % scale != 0) {
    throw Error(path_ + ": directory " + std::to_string(directory_) + " cannot be decoded at 1/" +
                std::to_string(scale));
  }
  RgbImage out(int(w), int(h), 255);
  const int64_t width = (width_ + scale - 1) / scale, height = (height_ + scale - 1) / scale;
  const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
  const int64_t x1 = std::min(x + w, width), y1 = std::min(y + h, height);
  if (x0 >= x1 || y0 >= y1) return out;
  const int64_t tw = tile_width_ / uint32_t(scale), th = tile_height_ / uint32_t(scale);
  for (int64_t ty = y0 / th; ty <= (y1 - 1) / th; ++ty) {
    for (int64_t tx = x0 / tw; tx <= (x1 - 1) / tw; ++tx) {
      const auto pixels = tile(uint32_t(ty * tiles_across_ + tx), scale);
      // Intersection of the tile with the requested region, in level pixels.
      const int64_t ix0 = std::max(x0, tx * tw), ix1 = std::min(x1, (tx + 1) * tw);
      const int64_t iy0 = std::max(y0, ty * th), iy1 = std::min(y1, (ty + 1) * th);
      const size_t bytes = size_t(ix1 - ix0) * 3;
      for (int64_t row = iy0; row < iy1; ++row) {
        const uint8_t* src = pixels->data() + (size_t(row - ty * th) * size_t(tw) + size_t(ix0 - tx * tw)) * 3;
        std::memcpy(out.at(int(ix0 - x), int(row - y)), src, bytes);
      }
    }
  }
  return out;
}

}  // namespace tessera::stages
