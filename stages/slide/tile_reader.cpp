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

RgbImage reduce_by(const RgbImage& image, double factor, int width, int height) {
  VipsRef in = wrap_rgb(image);
  VipsRef reduced, cropped;
  if (vips_reduce(in.get(), reduced.out(), factor, factor, "kernel", VIPS_KERNEL_LANCZOS3, nullptr)) {
    throw_vips_error("tile reduce");
  }
  if (vips_image_get_width(reduced.get()) < width || vips_image_get_height(reduced.get()) < height) {
    throw Error("reducing " + std::to_string(image.width) + "x" + std::to_string(image.height) + " by " +
                std::to_string(factor) + " gives less than " + std::to_string(width) + "x" + std::to_string(height));
  }
  if (vips_crop(reduced.get(), cropped.out(), 0, 0, width, height, nullptr)) throw_vips_error("tile reduce");
  return to_rgb(cropped.get(), "tile reduce");
}

RgbImage read_tile(const Slide& slide, int level, const TileGrid& grid, const GridCell& cell) {
  RgbImage region = slide.read_region(cell.x, cell.y, level, grid.read_size, grid.read_size, grid.decode_scale);
  if (grid.decode_scale > 1)
    return grid.resample == 1 ? region : reduce_by(region, grid.resample, grid.tile, grid.tile);
  return grid.read_size == grid.tile ? region : resample_to(region, grid.tile, grid.tile);
}

}  // namespace tessera::stages
