#include "stages/tile_reader.h"

#include <vips/vips.h>

#include "stages/vips_runtime.h"
#include "store/error.h"

namespace tessera::stages {

RgbImage resample_square(const RgbImage& image, int size) {
  VipsRef in = wrap_rgb(image);
  VipsRef out;
  const double hscale = double(size) / image.width;
  const double vscale = double(size) / image.height;
  if (vips_resize(in.get(), out.out(), hscale, "vscale", vscale, "kernel", VIPS_KERNEL_LANCZOS3, nullptr)) {
    throw_vips_error("tile resample");
  }
  RgbImage result = to_rgb(out.get(), "tile resample");
  if (result.width != size || result.height != size) {
    throw Error("tile resample gave " + std::to_string(result.width) + "x" + std::to_string(result.height) +
                ", expected " + std::to_string(size) + "x" + std::to_string(size));
  }
  return result;
}

RgbImage read_tile(const Slide& slide, int level, const TileGrid& grid, const GridCell& cell) {
  RgbImage region = slide.read_region(cell.x, cell.y, level, grid.read_size, grid.read_size);
  if (grid.read_size == grid.tile) return region;
  return resample_square(region, grid.tile);
}

}  // namespace tessera::stages
