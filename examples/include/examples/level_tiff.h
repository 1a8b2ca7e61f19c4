#pragma once

#include <string>
#include <vector>

typedef struct _VipsImage VipsImage;

namespace tessera::examples {

// How a scanner lays out a pyramid that libvips's own (every 2×) does not:
// Aperio 40× files have levels at 1×, 4× and 16×, so a 20× tile falls between
// levels.
struct LevelTiffSpec {
  std::vector<int> downsamples = {1, 4, 16};  // the first is 1: level 0
  double mpp = 0.25;                          // level 0, written as resolution tags
  int jpeg_quality = 90;
  bool rgb_jpeg = false;  // JPEG of RGB components (photometric RGB) rather than YCbCr
};

// Writes `image` as a tiled (256 px) JPEG TIFF with one directory per level of
// `spec`, which OpenSlide opens as generic-tiff. Each level is made by libvips
// (a box shrink by its downsample) and encoded by libtiff a row of tiles at a
// time, so memory stays a strip's worth. Appears under `path` only when
// whole. Throws tessera::Error.
void write_level_tiff(VipsImage* image, const std::string& path, const LevelTiffSpec& spec);

}  // namespace tessera::examples
