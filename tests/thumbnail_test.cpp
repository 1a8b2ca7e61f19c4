#include "slide/thumbnail.h"

#include <gtest/gtest.h>

#include "imaging/image_metrics.h"
#include "imaging/vips_runtime.h"
#include "test_data.h"

namespace tessera::stages {
namespace {

// 4096 x 3072 with the given levels.
examples::SyntheticSlideSpec spec_4096x3072(std::vector<int> level_downsamples) {
  auto spec = testing::small_spec();
  spec.width = 4096;
  spec.height = 3072;
  spec.level_downsamples = std::move(level_downsamples);
  return spec;
}

TEST(Thumbnail, ASlideWithNoSmallLevelIsDecodedReducedForItsThumbnail) {
  ensure_vips();
  testing::TempDir dir;
  // At 0.25 µm/px with level 0 only, as a 40x scan whose file has no reduced levels.
  auto spec = spec_4096x3072({1});
  spec.mpp = 0.25;
  const auto slide = Slide::open(testing::make_slide(dir.path(), "single.tiff", spec).string());
  ASSERT_EQ(slide->levels().size(), 1u);
  // 4096 / 512 = 8: level 0 at 1/8 is the thumbnail's size.
  const auto source = thumbnail_source(*slide, 512);
  EXPECT_EQ(source.level, 0);
  EXPECT_EQ(source.decode_scale, 8);
  // 4096 / 1000 = 4.1: at 1/4 the level is still larger than the thumbnail.
  EXPECT_EQ(thumbnail_source(*slide, 1000).decode_scale, 4);
  EXPECT_EQ(thumbnail_source(*slide, 4096).decode_scale, 1);

  const auto thumb = read_thumbnail(*slide, 512);
  EXPECT_EQ(thumb.image.width, 512);
  EXPECT_EQ(thumb.image.height, 384);
  EXPECT_DOUBLE_EQ(thumb.scale_x, 8.0);
  // Against the same thumbnail made by OpenSlide from the full decode.
  const auto full = Slide::open(slide->path(), /*direct_tiff=*/false);
  EXPECT_EQ(thumbnail_source(*full, 512).decode_scale, 1);
  const auto reference = read_thumbnail(*full, 512);
  ASSERT_EQ(reference.image.width, 512);
  EXPECT_GE(psnr(thumb.image, reference.image), 30.0);
}

TEST(Thumbnail, TheCoarsestSufficientLevelIsStillChosenFirst) {
  ensure_vips();
  testing::TempDir dir;
  const auto slide = Slide::open(testing::make_slide(dir.path(), "levels.tiff", spec_4096x3072({1, 4, 16})).string());
  // 4096 / 256 = 16: the 16x level as it is.
  EXPECT_EQ(thumbnail_source(*slide, 256).level, 2);
  EXPECT_EQ(thumbnail_source(*slide, 256).decode_scale, 1);
  // 4096 / 128 = 32: the 16x level at 1/2.
  EXPECT_EQ(thumbnail_source(*slide, 128).level, 2);
  EXPECT_EQ(thumbnail_source(*slide, 128).decode_scale, 2);
  // 4096 / 512 = 8: the 4x level at 1/2.
  EXPECT_EQ(thumbnail_source(*slide, 512).level, 1);
  EXPECT_EQ(thumbnail_source(*slide, 512).decode_scale, 2);
  const auto thumb = read_thumbnail(*slide, 512);
  EXPECT_EQ(thumb.image.width, 512);
}

TEST(Thumbnail, AFractionOfTheSideLetsACoarserLevelServeAsItIs) {
  ensure_vips();
  testing::TempDir dir;
  const auto slide = Slide::open(testing::make_slide(dir.path(), "levels.tiff", spec_4096x3072({1, 4, 16})).string());
  // The 16x level is 256 px wide: short of 300, so the whole side needs the 4x
  // level at 1/2 (512 px, shrunk to 300) ...
  EXPECT_EQ(thumbnail_source(*slide, 300).level, 1);
  EXPECT_EQ(thumbnail_source(*slide, 300).decode_scale, 2);
  EXPECT_EQ(read_thumbnail(*slide, 300).image.width, 300);
  // ... and half of it takes the 16x level, left at its 256 px.
  const auto source = thumbnail_source(*slide, 300, 0.5);
  EXPECT_EQ(source.level, 2);
  EXPECT_EQ(source.decode_scale, 1);
  const auto thumb = read_thumbnail(*slide, 300, 1, 0.5);
  EXPECT_EQ(thumb.image.width, 256);
  EXPECT_EQ(thumb.image.height, 192);
  EXPECT_DOUBLE_EQ(thumb.scale_x, 16.0);
  // The 16x level at 1/2, 128 px, is less than half of 300 but not of 200.
  EXPECT_EQ(thumbnail_source(*slide, 200, 0.5).decode_scale, 2);
}

// Bands computed on several threads give the pixels one thread gives, on
// each path: a resize by a non-integer factor (Lanczos reads across band
// edges), a shrink by more than 2x, and OpenSlide's reader.
TEST(Thumbnail, ThumbnailsInBandsOnSeveralThreadsHaveTheSerialPixels) {
  ensure_vips();
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "bands.tiff", spec_4096x3072({1, 4}));
  const auto direct = Slide::open(path.string());
  const auto through_openslide = Slide::open(path.string(), /*direct_tiff=*/false);
  for (const Slide* slide : {direct.get(), through_openslide.get()}) {
    for (const int side : {700, 300}) {
      const auto serial = read_thumbnail(*slide, side, 1);
      for (const int threads : {2, 5}) {
        const auto banded = read_thumbnail(*slide, side, threads);
        ASSERT_EQ(banded.image.width, serial.image.width) << side;
        ASSERT_EQ(banded.image.height, serial.image.height) << side;
        EXPECT_EQ(banded.image.pixels, serial.image.pixels) << "side " << side << ", " << threads << " threads";
      }
    }
  }
}

}  // namespace
}  // namespace tessera::stages
