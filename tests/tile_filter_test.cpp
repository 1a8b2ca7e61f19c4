#include "slide/tile_filter.h"

#include <gtest/gtest.h>

#include <random>

#include "slide/tiling_limits.h"

namespace tessera::stages {
namespace {

// An H&E-like tile: pink stroma with noise and dark purple nuclei.
RgbImage he_tile(uint32_t seed = 7) {
  RgbImage tile(256, 256);
  std::mt19937 rng(seed);
  std::normal_distribution<float> noise(0, 8);
  for (int y = 0; y < 256; ++y) {
    for (int x = 0; x < 256; ++x) {
      uint8_t* p = tile.at(x, y);
      p[0] = uint8_t(std::clamp(215.f + noise(rng), 0.f, 255.f));
      p[1] = uint8_t(std::clamp(130.f + noise(rng), 0.f, 255.f));
      p[2] = uint8_t(std::clamp(185.f + noise(rng), 0.f, 255.f));
    }
  }
  std::uniform_int_distribution<int> pos(6, 249);
  for (int i = 0; i < 60; ++i) {
    const int cx = pos(rng), cy = pos(rng);
    for (int y = cy - 5; y <= cy + 5; ++y) {
      for (int x = cx - 5; x <= cx + 5; ++x) {
        if ((x - cx) * (x - cx) + (y - cy) * (y - cy) > 25) continue;
        uint8_t* p = tile.at(x, y);
        p[0] = 85, p[1] = 55, p[2] = 150;
      }
    }
  }
  return tile;
}

RgbImage box_blur(const RgbImage& in, int passes) {
  RgbImage a = in;
  for (int pass = 0; pass < passes; ++pass) {
    RgbImage b = a;
    for (int y = 2; y < a.height - 2; ++y) {
      for (int x = 2; x < a.width - 2; ++x) {
        for (int c = 0; c < 3; ++c) {
          int sum = 0;
          for (int dy = -2; dy <= 2; ++dy)
            for (int dx = -2; dx <= 2; ++dx) sum += a.at(x + dx, y + dy)[c];
          b.at(x, y)[c] = uint8_t(sum / 25);
        }
      }
    }
    a = std::move(b);
  }
  return a;
}

void paint_rows(RgbImage& tile, int y0, int y1, uint8_t r, uint8_t g, uint8_t b) {
  for (int y = y0; y < y1; ++y)
    for (int x = 0; x < tile.width; ++x) tile.at(x, y)[0] = r, tile.at(x, y)[1] = g, tile.at(x, y)[2] = b;
}

FilterScores scored(const RgbImage& tile, double tissue = 1.0, bool dark = false) {
  auto s = score_tile(tile, dark, FilterOptions{});
  s.tissue_fraction = tissue;
  return s;
}

TEST(TileFilter, SharpHeTileIsKept) {
  const auto s = scored(he_tile());
  EXPECT_EQ(s.background_fraction, 0.0);
  EXPECT_EQ(s.pen_fraction, 0.0);
  EXPECT_GT(s.blur_variance, 200.0);
  EXPECT_EQ(judge(s, FilterOptions{}), FilterRule::kKept);
}

TEST(TileFilter, GlassIsBackground) {
  RgbImage glass(256, 256, 240);
  const auto s = scored(glass);
  EXPECT_DOUBLE_EQ(s.background_fraction, 1.0);
  EXPECT_EQ(judge(s, FilterOptions{}), FilterRule::kBackground);
}

TEST(TileFilter, BackgroundFractionCountsExactly) {
  RgbImage tile = he_tile();
  paint_rows(tile, 0, 160, 245, 245, 245);  // 160 of 256 rows glass
  const auto s = scored(tile);
  EXPECT_DOUBLE_EQ(s.background_fraction, 160.0 / 256.0);
  EXPECT_EQ(judge(s, FilterOptions{}), FilterRule::kBackground);  // 0.625 > 0.6
}

TEST(TileFilter, GreenAndBlackInkArePen) {
  RgbImage green = he_tile();
  paint_rows(green, 100, 120, 40, 130, 95);
  const auto sg = scored(green);
  EXPECT_DOUBLE_EQ(sg.pen_fraction, 20.0 / 256.0);
  EXPECT_EQ(judge(sg, FilterOptions{}), FilterRule::kPen);

  RgbImage black = he_tile();
  paint_rows(black, 0, 16, 20, 22, 25);
  const auto sb = scored(black);
  EXPECT_DOUBLE_EQ(sb.pen_fraction, 16.0 / 256.0);
  EXPECT_EQ(judge(sb, FilterOptions{}), FilterRule::kPen);
}

TEST(TileFilter, HaematoxylinIsNotInk) {
  RgbImage nuclei(256, 256);
  paint_rows(nuclei, 0, 256, 70, 45, 140);  // dense nuclei: red stays above green
  EXPECT_EQ(scored(nuclei).pen_fraction, 0.0);
}

TEST(TileFilter, BlurredTileFailsTheLaplacianRule) {
  const auto sharp = scored(he_tile());
  const auto blurred = scored(box_blur(he_tile(), 3));
  EXPECT_LT(blurred.blur_variance, FilterOptions{}.min_blur_variance);
  EXPECT_LT(blurred.blur_variance * 10, sharp.blur_variance);
  EXPECT_EQ(judge(blurred, FilterOptions{}), FilterRule::kBlur);
}

// A one-pixel checkerboard of black and white.
RgbImage checkerboard(int width, int height) {
  RgbImage image(width, height);
  for (int y = 0; y < height; ++y) {
    for (int x = 0; x < width; ++x) {
      const uint8_t v = (x + y) % 2 ? 255 : 0;
      image.at(x, y)[0] = image.at(x, y)[1] = image.at(x, y)[2] = v;
    }
  }
  return image;
}

TEST(TileFilter, LaplacianVarianceHasKnownValues) {
  RgbImage flat(64, 64, 128);
  EXPECT_DOUBLE_EQ(score_tile(flat, false, {}).blur_variance, 0.0);
  // A one-pixel checkerboard of 0 and 255: every interior Laplacian is ±4·255.
  EXPECT_DOUBLE_EQ(score_tile(checkerboard(64, 64), false, {}).blur_variance, 1020.0 * 1020.0);
}

// The widest tile, all at the largest |Laplacian|: a row's squares add up to
// 8.5e9, past 32 bits, and must still sum exactly.
TEST(TileFilter, LaplacianSumsOfTheWidestTileDoNotOverflow) {
  EXPECT_DOUBLE_EQ(score_tile(checkerboard(kMaxTileSize, 4), false, {}).blur_variance, 1020.0 * 1020.0);
}

TEST(TileFilter, RulesApplyInOrder) {
  // Low tissue wins over everything else.
  RgbImage glass(256, 256, 240);
  EXPECT_EQ(judge(scored(glass, 0.1), FilterOptions{}), FilterRule::kTissue);
  // Background is checked before pen.
  RgbImage both(256, 256, 240);
  paint_rows(both, 0, 30, 40, 130, 95);
  EXPECT_EQ(judge(scored(both), FilterOptions{}), FilterRule::kBackground);
}

TEST(TileFilter, FluorescenceBackgroundIsDarkAndHasNoPen) {
  RgbImage dark(256, 256, 5);
  const auto s = scored(dark, 1.0, /*dark=*/true);
  EXPECT_DOUBLE_EQ(s.background_fraction, 1.0);
  EXPECT_EQ(s.pen_fraction, 0.0);
  EXPECT_EQ(judge(s, FilterOptions{}), FilterRule::kBackground);
}

}  // namespace
}  // namespace tessera::stages
