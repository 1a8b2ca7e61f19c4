#pragma once

#include "imaging/rgb_image.h"
#include "slide/slide.h"
#include "slide/tile_grid.h"

namespace tessera::stages {

// Reads one grid cell as a grid.tile x grid.tile RGB tile: OpenSlide reads
// grid.read_size pixels from the chosen level, and libvips resamples (Lanczos3)
// when the target falls between levels.
RgbImage read_tile(const Slide& slide, int level, const TileGrid& grid, const GridCell& cell);

// Resamples an RGB image to exactly width x height with libvips (Lanczos3).
RgbImage resample_to(const RgbImage& image, int width, int height);

}  // namespace tessera::stages
