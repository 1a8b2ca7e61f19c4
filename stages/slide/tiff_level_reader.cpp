#include "slide/tiff_level_reader.h"

#include <tiffio.h>

#include <algorithm>
#include <cstdarg>
#include <cstdio>
#include <cstring>

#include "base/error.h"
#include "handle_pool.h"
#include "slide/jpeg_tile_decoder.h"

namespace tessera::stages {
namespace {

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
    reader.reset(new TiffLevelReader(path, directory, width, height, tw, th));
    break;
  } while (++directory, TIFFReadDirectory(tiff));
  TIFFClose(tiff);
  return reader;
}

TiffLevelReader::TiffLevelReader(const std::string& path, int directory, int64_t width, int64_t height,
                                 uint32_t tile_width, uint32_t tile_height)
    : TiledLevelReader(path, width, height, tile_width, tile_height, largest_scale_dividing(tile_width, tile_height)),
      directory_(directory),
      tiles_across_(uint32_t((width + tile_width - 1) / tile_width)),
      handles_(std::make_unique<HandlePool<Handle>>()) {}

TiffLevelReader::~TiffLevelReader() = default;

std::unique_ptr<TiffLevelReader::Handle> TiffLevelReader::open_handle() const {
  auto handle = std::make_unique<Handle>();
  handle->tiff = open_tiff(path(), handle->diagnostics);
  if (!handle->tiff || !TIFFSetDirectory(handle->tiff, tdir_t(directory_))) {
    throw Error(path() + ": libtiff cannot open directory " + std::to_string(directory_));
  }
  uint16_t photometric = 0;
  TIFFGetFieldDefaulted(handle->tiff, TIFFTAG_PHOTOMETRIC, &photometric);
  // Let libjpeg convert YCbCr to RGB, as OpenSlide does.
  if (photometric == PHOTOMETRIC_YCBCR) TIFFSetField(handle->tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  return handle;
}

bool TiffLevelReader::decode_tile(uint32_t column, uint32_t row, int scale, std::vector<uint8_t>& pixels) const {
  const uint32_t index = row * tiles_across_ + column;
  auto owned = handles_->acquire([this] { return open_handle(); });
  Handle& handle = *owned;
  handle.diagnostics.clear();
  std::string failure;
  if (scale == 1) {
    const tmsize_t got = TIFFReadEncodedTile(handle.tiff, index, pixels.data(), tmsize_t(pixels.size()));
    if (got < 0 && handle.diagnostics.count == 0) failure = "corrupt or truncated file";
  } else {
    if (!handle.scaled) handle.scaled = JpegTileDecoder::for_directory(handle.tiff);
    const uint64_t size = TIFFGetStrileByteCount(handle.tiff, index);
    if (size > kMaxCompressedRatio * uint64_t(tile_width()) * tile_height() * 3) {
      failure = "its byte count " + std::to_string(size) + " is implausible";
    } else {
      handle.compressed.resize(size_t(size));
      const tmsize_t got = TIFFReadRawTile(handle.tiff, index, handle.compressed.data(), tmsize_t(size));
      if (handle.diagnostics.count == 0 && got != tmsize_t(size)) failure = "corrupt or truncated file";
      if (failure.empty() && handle.diagnostics.count == 0 &&
          !handle.scaled->decode(handle.compressed.data(), size_t(size), scale, pixels.data(),
                                 int(tile_width()) / scale, int(tile_height()) / scale, failure)) {
        failure = "JPEG: " + failure;
      }
    }
  }
  if (handle.diagnostics.count > 0) failure = handle.diagnostics.first;
  if (!failure.empty()) {
    throw Error(path() + ": cannot decode tile " + std::to_string(index) + " of directory " +
                std::to_string(directory_) + (scale > 1 ? " at 1/" + std::to_string(scale) : std::string()) + " (" +
                failure + ")");
  }
  handles_->release(std::move(owned));
  return true;
}

}  // namespace tessera::stages
