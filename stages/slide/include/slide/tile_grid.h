#pragma once

#include <cstdint>
#include <vector>

#include "slide/level_choice.h"

namespace tessera::stages {

struct GridCell {
  uint32_t row = 0;
  uint32_t col = 0;
  int64_t x = 0;  // level-0 top-left
  int64_t y = 0;
};

// Full tiles only: a grid of `tile`-pixel tiles at the output resolution,
// stepping by tile - overlap; a partial tile at the right or bottom edge is
// left out rather than padded.
struct TileGrid {
  uint32_t cols = 0;
  uint32_t rows = 0;
  int tile = 0;
  int overlap = 0;
  double level0_per_pixel = 1;  // level-0 pixels per output pixel
  int64_t extent = 0;           // level-0 pixels a tile's side covers
  int read_size = 0;            // pixels read per side from the chosen level, decoded at 1/decode_scale
  int decode_scale = 1;
  double resample = 1;  // from the pixels read to the tile's

  uint64_t size() const { return uint64_t(cols) * rows; }
  GridCell cell(uint32_t row, uint32_t col) const;
};

TileGrid make_tile_grid(int64_t width0, int64_t height0, const LevelChoice& choice, int tile, int overlap);

}  // namespace tessera::stages
