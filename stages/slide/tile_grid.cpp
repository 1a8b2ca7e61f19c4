#include "slide/tile_grid.h"

#include <cmath>
#include <string>

#include "base/error.h"
#include "slide/tiling_limits.h"

namespace tessera::stages {

TileGrid make_tile_grid(int64_t width0, int64_t height0, const LevelChoice& choice, int tile, int overlap) {
  if (tile < kMinTileSize || tile > kMaxTileSize) {
    throw Error("tile size " + std::to_string(tile) + " is outside " + std::to_string(kMinTileSize) + ".." +
                std::to_string(kMaxTileSize));
  }
  if (overlap < 0 || overlap >= tile) {
    throw Error("overlap " + std::to_string(overlap) + " must be in 0.." + std::to_string(tile - 1));
  }
  TileGrid grid;
  grid.tile = tile;
  grid.overlap = overlap;
  grid.level0_per_pixel = choice.level_downsample * choice.decode_scale * choice.resample;
  grid.decode_scale = choice.decode_scale;
  grid.extent = std::llround(tile * grid.level0_per_pixel);
  grid.resample = choice.resample;
  // Lanczos3 from full resolution maps the rounded read onto the tile, as it
  // always has (stored tiles keep their pixels). After a scaled decode the
  // residual factor is applied exactly, from a read just large enough.
  grid.read_size = choice.decode_scale > 1 ? int(std::ceil(tile * choice.resample - 1e-9))
                                           : int(std::lround(tile * choice.resample));
  // A tiny tolerance keeps 2220 / (1 + 1e-12) from losing a whole pixel.
  const auto out_w = int64_t(std::floor(double(width0) / grid.level0_per_pixel + 1e-6));
  const auto out_h = int64_t(std::floor(double(height0) / grid.level0_per_pixel + 1e-6));
  const int stride = tile - overlap;
  grid.cols = out_w >= tile ? uint32_t((out_w - tile) / stride + 1) : 0;
  grid.rows = out_h >= tile ? uint32_t((out_h - tile) / stride + 1) : 0;
  return grid;
}

GridCell TileGrid::cell(uint32_t row, uint32_t col) const {
  const int stride = tile - overlap;
  return GridCell{row, col, std::llround(double(col) * stride * level0_per_pixel),
                  std::llround(double(row) * stride * level0_per_pixel)};
}

}  // namespace tessera::stages
