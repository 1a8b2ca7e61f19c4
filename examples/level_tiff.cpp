#include "examples/level_tiff.h"

#include <tiffio.h>
#include <vips/vips.h>

#include <algorithm>
#include <cstdint>
#include <cstring>
#include <filesystem>
#include <memory>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"
#include "imaging/vips_runtime.h"

namespace tessera::examples {
namespace {

using TiffPtr = std::unique_ptr<TIFF, decltype(&TIFFClose)>;

TiffPtr open_tiff(const std::string& path, const char* mode) {
  TiffPtr tiff(TIFFOpen(path.c_str(), mode), &TIFFClose);
  if (!tiff) throw Error("libtiff cannot open " + path);
  return tiff;
}

constexpr uint32_t kTileSide = 256;

// Writes `level` as the next directory of `out`, encoding its tiles with
// libtiff's JPEG codec one row of tiles at a time.
void write_level(TIFF* out, VipsImage* level, bool reduced, double mpp, const LevelTiffSpec& spec,
                 const std::string& path) {
  const auto width = uint32_t(vips_image_get_width(level)), height = uint32_t(vips_image_get_height(level));
  TIFFSetField(out, TIFFTAG_SUBFILETYPE, reduced ? FILETYPE_REDUCEDIMAGE : 0);
  TIFFSetField(out, TIFFTAG_IMAGEWIDTH, width);
  TIFFSetField(out, TIFFTAG_IMAGELENGTH, height);
  TIFFSetField(out, TIFFTAG_TILEWIDTH, kTileSide);
  TIFFSetField(out, TIFFTAG_TILELENGTH, kTileSide);
  TIFFSetField(out, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(out, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(out, TIFFTAG_PLANARCONFIG, PLANARCONFIG_CONTIG);
  TIFFSetField(out, TIFFTAG_COMPRESSION, COMPRESSION_JPEG);
  TIFFSetField(out, TIFFTAG_JPEGQUALITY, spec.jpeg_quality);
  if (spec.rgb_jpeg) {
    TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  } else {
    TIFFSetField(out, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_YCBCR);
    TIFFSetField(out, TIFFTAG_YCBCRSUBSAMPLING, 2, 2);
    TIFFSetField(out, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);  // libjpeg converts the RGB given
  }
  TIFFSetField(out, TIFFTAG_RESOLUTIONUNIT, RESUNIT_CENTIMETER);
  TIFFSetField(out, TIFFTAG_XRESOLUTION, float(1e4 / mpp));
  TIFFSetField(out, TIFFTAG_YRESOLUTION, float(1e4 / mpp));
  std::vector<uint8_t> tile(size_t(kTileSide) * kTileSide * 3);
  for (uint32_t y = 0; y < height; y += kTileSide) {
    stages::VipsRef strip;
    const uint32_t rows = std::min(kTileSide, height - y);
    if (vips_crop(level, strip.out(), 0, int(y), int(width), int(rows), nullptr)) stages::throw_vips_error(path);
    const stages::RgbImage pixels = stages::to_rgb(strip.get(), path);
    for (uint32_t x = 0; x < width; x += kTileSide) {
      std::fill(tile.begin(), tile.end(), uint8_t{255});  // past the edge: white
      const uint32_t columns = std::min(kTileSide, width - x);
      for (uint32_t row = 0; row < rows; ++row) {
        std::memcpy(tile.data() + size_t(row) * kTileSide * 3, pixels.at(int(x), int(row)), size_t(columns) * 3);
      }
      if (TIFFWriteEncodedTile(out, TIFFComputeTile(out, x, y, 0, 0), tile.data(), tmsize_t(tile.size())) < 0) {
        throw Error("cannot write a tile of " + path);
      }
    }
  }
  if (!TIFFWriteDirectory(out)) throw Error("cannot write a directory of " + path);
}

}  // namespace

void write_level_tiff(VipsImage* image, const std::string& path, const LevelTiffSpec& spec) {
  stages::ensure_vips();
  if (spec.downsamples.empty() || spec.downsamples.front() != 1) throw Error(path + ": level 0 must have downsample 1");
  const std::string partial = partial_path(path).string();
  {
    const TiffPtr out = open_tiff(partial, "w8");
    for (size_t i = 0; i < spec.downsamples.size(); ++i) {
      const int downsample = spec.downsamples[i];
      stages::VipsRef level;
      if (vips_shrink(image, level.out(), double(downsample), double(downsample), nullptr)) {
        stages::throw_vips_error(path);
      }
      write_level(out.get(), level.get(), i > 0, spec.mpp * downsample, spec, path);
    }
  }
  std::filesystem::rename(partial, path);
}

}  // namespace tessera::examples
