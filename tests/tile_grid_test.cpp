#include "slide/tile_grid.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace tessera::stages {
namespace {

LevelChoice native() { return LevelChoice{0, 1, 1, 0.499}; }

TEST(TileGrid, FullTilesOnlyAtNativeResolution) {
  // CMU-1-Small-Region: 2220 x 2967. (2220 - 256) / 256 = 7.67 -> 8 columns,
  // (2967 - 256) / 256 = 10.59 -> 11 rows.
  const auto grid = make_tile_grid(2220, 2967, native(), 256, 0);
  EXPECT_EQ(grid.cols, 8u);
  EXPECT_EQ(grid.rows, 11u);
  EXPECT_EQ(grid.size(), 88u);
  EXPECT_EQ(grid.extent, 256);
  EXPECT_EQ(grid.read_size, 256);
  const auto last = grid.cell(10, 7);
  EXPECT_EQ(last.x, 7 * 256);
  EXPECT_EQ(last.y, 10 * 256);
}

TEST(TileGrid, AHalfScaleDecodeCoversTwiceTheLevelPixels) {
  // A 40x scan decoded at 1/2 for 0.5 µm/px tiles: each tile is 256 decoded
  // pixels, 512 level-0 pixels.
  LevelChoice choice{0, 1, 1, 0.4990, 2};
  const auto grid = make_tile_grid(30000, 20000, choice, 256, 0);
  EXPECT_EQ(grid.decode_scale, 2);
  EXPECT_EQ(grid.read_size, 256);
  EXPECT_EQ(grid.extent, 512);
  EXPECT_EQ(grid.cols, 58u);  // 15000 / 256
  EXPECT_EQ(grid.rows, 39u);  // 10000 / 256
  EXPECT_EQ(grid.cell(1, 3).x, 3 * 512);

  // With a residual 1.1x after the 1/2 decode: 282 decoded pixels per tile,
  // the fewest that reduce by exactly 1.1 to 256 (281.6 rounded up).
  LevelChoice residual{0, 1, 1.1, 0.5, 2};
  const auto g = make_tile_grid(30000, 20000, residual, 256, 0);
  EXPECT_EQ(g.read_size, 282);
  EXPECT_EQ(g.extent, 563);  // 256 * 2.2
  EXPECT_EQ(g.cols, 53u);    // 30000 / 2.2 = 13636 -> 53 tiles
}

TEST(TileGrid, OverlapShortensTheStride) {
  // Stride 192: (2220 - 256) / 192 = 10.2 -> 11 columns; (2967 - 256) / 192 = 14.1 -> 15 rows.
  const auto grid = make_tile_grid(2220, 2967, native(), 256, 64);
  EXPECT_EQ(grid.cols, 11u);
  EXPECT_EQ(grid.rows, 15u);
  EXPECT_EQ(grid.cell(1, 2).x, 384);
  EXPECT_EQ(grid.cell(1, 2).y, 192);
}

TEST(TileGrid, ResampledGridCoversTwiceTheLevelZeroPixels) {
  // 0.25 µm/px slide at 0.5 µm/px: 10000 x 8000 becomes 5000 x 4000 output pixels.
  const auto grid = make_tile_grid(10000, 8000, LevelChoice{0, 1, 2, 0.5}, 256, 0);
  EXPECT_EQ(grid.cols, 19u);
  EXPECT_EQ(grid.rows, 15u);
  EXPECT_EQ(grid.extent, 512);
  EXPECT_EQ(grid.read_size, 512);
  EXPECT_EQ(grid.cell(2, 3).x, 3 * 512);
}

TEST(TileGrid, CoarseLevelWithFractionalResample) {
  // Level 1 (downsample 2) of a 0.2281750559 µm/px NDPI at 0.5 µm/px.
  const double resample = 0.5 / (2 * 0.2281750559028887);
  const auto grid = make_tile_grid(3968, 4864, LevelChoice{1, 2, resample, 0.5}, 256, 0);
  EXPECT_EQ(grid.cols, 7u);        // floor(3968 / 2.1913) = 1810 output px
  EXPECT_EQ(grid.rows, 8u);        // floor(4864 / 2.1913) = 2219 output px
  EXPECT_EQ(grid.read_size, 280);  // round(256 * 1.0957) level-1 pixels
  EXPECT_EQ(grid.extent, 561);     // round(256 * 2.1913) level-0 pixels
}

TEST(TileGrid, SlideSmallerThanATileHasNoCells) { EXPECT_EQ(make_tile_grid(200, 5000, native(), 256, 0).size(), 0u); }

TEST(TileGrid, RejectsBadGeometry) {
  EXPECT_THROW(make_tile_grid(1000, 1000, native(), 256, 256), Error);
  EXPECT_THROW(make_tile_grid(1000, 1000, native(), 256, -1), Error);
  EXPECT_THROW(make_tile_grid(1000, 1000, native(), 8, 0), Error);
}

}  // namespace
}  // namespace tessera::stages
