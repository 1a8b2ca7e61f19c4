#include "slide/tile_reader.h"

#include <vips/vips.h>

#include "base/error.h"
#include "imaging/vips_runtime.h"

namespace tessera::stages {

RgbImage resample_to(const RgbImage& image, int width, int height) {
  VipsRef in = wrap_rgb(image);
  VipsRef out;
  const double hscale = double(width) / image.width;
  const double vscale = double(height) / image.height;
  if (vips_resize(in.get(), out.out(), hscale, "vscale", vscale, "kernel", VIPS_KERNEL_LANCZOS3, nullptr)) {
    throw_vips_error("tile resample");
  }
  RgbImage result = to_rgb(out.get(), "tile resample");
  if (result.width != width || result.height != height) {
    throw Error("resample gave " + std::to_string(result.width) + "x" + std::to_string(result.height) + ", expected " +
                std::to_string(width) + "x" + std::to_string(height));
  }
  return result;
}

RgbImage read_tile(const Slide& slide, int level, const TileGrid& grid, const GridCell& cell) {
  RgbImage region = slide.read_region(cell.x, cell.y, level, grid.read_size, grid.read_size);
  if (grid.read_size == grid.tile) return region;
  return resample_to(region, grid.tile, grid.tile);
}

}  // namespace tessera::stages
