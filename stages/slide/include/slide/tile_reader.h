#pragma once

#include "imaging/rgb_image.h"
#include "slide/slide.h"
#include "slide/tile_grid.h"

namespace tessera::stages {

// Reads one grid cell as a grid.tile x grid.tile RGB tile: grid.read_size
// pixels from the chosen level (decoded at 1/grid.decode_scale), resampled by
// libvips (Lanczos3) when the target falls between those pixels' resolutions.
RgbImage read_tile(const Slide& slide, int level, const TileGrid& grid, const GridCell& cell);

// Resamples an RGB image to exactly width x height with libvips (Lanczos3).
RgbImage resample_to(const RgbImage& image, int width, int height);

// Reduces an RGB image by exactly `factor` (>= 1) with libvips (Lanczos3) and
// keeps the top-left width x height; the image must be at least factor times
// that size.
RgbImage reduce_by(const RgbImage& image, double factor, int width, int height);

}  // namespace tessera::stages
