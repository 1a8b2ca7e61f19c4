#include "slide/tissue_mask.h"

#include <gtest/gtest.h>

#include "imaging/vips_runtime.h"
#include "slide/slide.h"
#include "slide/thumbnail.h"
#include "test_data.h"

namespace tessera::stages {
namespace {

TEST(Otsu, SplitsTwoClassesAtTheFirstBestThreshold) {
  Histogram h{};
  h[10] = 100;
  h[200] = 100;
  // Every t in 11..200 separates the classes perfectly; the first is returned.
  EXPECT_EQ(otsu_threshold(h), 11);
}

TEST(Otsu, WeightedClassesMoveTheThreshold) {
  Histogram h{};
  for (int v = 0; v < 40; ++v) h[v] = 50;    // glass: low saturation
  for (int v = 90; v < 160; ++v) h[v] = 20;  // tissue
  const int t = otsu_threshold(h);
  EXPECT_GT(t, 39);
  EXPECT_LE(t, 90);
}

TEST(Otsu, DegenerateHistograms) {
  Histogram empty{};
  EXPECT_EQ(otsu_threshold(empty), 0);
  Histogram single{};
  single[77] = 1000;
  EXPECT_EQ(otsu_threshold(single), 0);
}

// 200 x 100 thumbnail: glass everywhere, pink tissue in x 50..150, y 20..80.
RgbImage brightfield_thumbnail() {
  RgbImage image(200, 100, 242);
  for (int y = 20; y < 80; ++y)
    for (int x = 50; x < 150; ++x) image.at(x, y)[0] = 220, image.at(x, y)[1] = 140, image.at(x, y)[2] = 190;
  return image;
}

TEST(TissueMask, SaturationOtsuFindsThePinkRectangle) {
  ensure_vips();
  const auto mask = compute_tissue_mask(brightfield_thumbnail(), 10, 10, 5.0, TissueOptions{});
  EXPECT_EQ(mask.method, "otsu-saturation");
  EXPECT_FALSE(mask.dark_background);
  // The median filter rounds off the rectangle's four corner pixels.
  EXPECT_DOUBLE_EQ(mask.tissue_fraction(), (100.0 * 60.0 - 4) / (200.0 * 100.0));
  // Level-0 rectangles (10 level-0 px per mask px).
  EXPECT_DOUBLE_EQ(mask.fraction(600, 300, 256, 256), 1.0);
  EXPECT_DOUBLE_EQ(mask.fraction(0, 0, 256, 256), 0.0);
  EXPECT_DOUBLE_EQ(mask.fraction(400, 300, 200, 200), 0.5);  // x 40..60: half inside
}

TEST(TissueMask, BlackInkIsNotTissue) {
  ensure_vips();
  RgbImage image = brightfield_thumbnail();
  for (int y = 0; y < 100; ++y)
    for (int x = 0; x < 20; ++x) image.at(x, y)[0] = image.at(x, y)[1] = image.at(x, y)[2] = 10;
  const auto mask = compute_tissue_mask(image, 1, 1, 5.0, TissueOptions{});
  EXPECT_DOUBLE_EQ(mask.fraction(0, 0, 20, 100), 0.0);
  EXPECT_DOUBLE_EQ(mask.fraction(60, 30, 40, 40), 1.0);
}

TEST(TissueMask, FluorescenceUsesLuminanceOnADarkBackground) {
  ensure_vips();
  RgbImage image(200, 100, 3);
  for (int y = 20; y < 80; ++y)
    for (int x = 50; x < 150; ++x) image.at(x, y)[2] = 180;  // DAPI blue
  EXPECT_TRUE(has_dark_background(image));
  const auto mask = compute_tissue_mask(image, 1, 1, 20.0, TissueOptions{});
  EXPECT_EQ(mask.method, "otsu-luminance");
  EXPECT_TRUE(mask.dark_background);
  EXPECT_DOUBLE_EQ(mask.fraction(70, 35, 60, 30), 1.0);
  EXPECT_DOUBLE_EQ(mask.fraction(0, 0, 30, 100), 0.0);
}

TEST(TissueMask, AllGlassGivesAnEmptyMask) {
  ensure_vips();
  const auto mask = compute_tissue_mask(RgbImage(100, 100, 240), 1, 1, 5.0, TissueOptions{});
  EXPECT_DOUBLE_EQ(mask.tissue_fraction(), 0.0);
}

TEST(TissueMask, MatchesTheKnownTissueOfASyntheticSlide) {
  // The quality floor behind docs/FILTERS.md: IoU against the exact ellipse.
  testing::TempDir dir;
  auto spec = testing::small_spec();
  spec.pen_stroke = false;
  const auto path = testing::make_slide(dir.path(), "s.tiff", spec);
  const auto slide = Slide::open(path.string());
  const auto thumb = read_thumbnail(*slide, 1024);
  EXPECT_EQ(thumb.image.width, 1024);
  EXPECT_EQ(thumb.image.height, 768);
  const auto mask = compute_tissue_mask(thumb.image, thumb.scale_x, thumb.scale_y, 1.0, TissueOptions{});
  uint64_t both = 0, either = 0;
  for (int y = 0; y < mask.height; ++y) {
    for (int x = 0; x < mask.width; ++x) {
      const bool truth = examples::inside_tissue(spec, (x + 0.5) * mask.scale_x, (y + 0.5) * mask.scale_y);
      const bool said = mask.inside[size_t(y) * mask.width + x];
      both += truth && said;
      either += truth || said;
    }
  }
  EXPECT_GT(double(both) / double(either), 0.97);
}

}  // namespace
}  // namespace tessera::stages
