#include "slide/level_choice.h"

#include <gtest/gtest.h>

#include "base/error.h"

namespace tessera::stages {
namespace {

std::vector<SlideLevel> levels(std::initializer_list<double> downsamples) {
  std::vector<SlideLevel> out;
  for (double d : downsamples) out.push_back({int64_t(40000 / d), int64_t(30000 / d), d});
  return out;
}

TEST(LevelChoice, NativeLevelWithinToleranceIsUsedUnresampled) {
  const auto choice = choose_level(levels({1, 4, 16}), 0.499, 0.5, 0.05);
  EXPECT_EQ(choice.level, 0);
  EXPECT_DOUBLE_EQ(choice.resample, 1.0);
  EXPECT_DOUBLE_EQ(choice.tile_mpp, 0.499);
}

TEST(LevelChoice, FortyXScanWithoutTwentyXLevelIsResampledFromLevelZero) {
  // Aperio 40x: levels at 1, 4, 16; 0.5 µm/px falls between levels 0 and 1.
  const auto choice = choose_level(levels({1, 4, 16}), 0.25, 0.5, 0.05);
  EXPECT_EQ(choice.level, 0);
  EXPECT_DOUBLE_EQ(choice.resample, 2.0);
  EXPECT_DOUBLE_EQ(choice.tile_mpp, 0.5);
}

TEST(LevelChoice, PicksTheCoarsestLevelThatIsStillFineEnough) {
  const auto exact = choose_level(levels({1, 2, 4, 8}), 0.25, 0.5, 0.05);
  EXPECT_EQ(exact.level, 1);
  EXPECT_DOUBLE_EQ(exact.resample, 1.0);

  const auto between = choose_level(levels({1, 4, 16}), 0.25, 2.0, 0.05);
  EXPECT_EQ(between.level, 1);
  EXPECT_DOUBLE_EQ(between.level_downsample, 4.0);
  EXPECT_DOUBLE_EQ(between.resample, 2.0);
}

TEST(LevelChoice, HamamatsuLevelsResampleTheRemainder) {
  const double base = 0.2281750559028887;
  const auto choice = choose_level(levels({1, 2, 4, 8, 16, 32, 64}), base, 0.5, 0.05);
  EXPECT_EQ(choice.level, 1);
  EXPECT_NEAR(choice.resample, 0.5 / (2 * base), 1e-12);
  EXPECT_DOUBLE_EQ(choice.tile_mpp, 0.5);
}

TEST(LevelChoice, AFortyXScanAtTwentyXIsAHalfScaleDecode) {
  // TCGA's 0.2495 µm/px: half of it is within tolerance of 0.5, so the
  // half-scale pixels are used unresampled, as a native 20x level would be.
  const auto choice = with_decode_scale(choose_level(levels({1, 4, 16}), 0.2495, 0.5, 0.05), 8, 0.2495, 0.05);
  EXPECT_EQ(choice.level, 0);
  EXPECT_EQ(choice.decode_scale, 2);
  EXPECT_DOUBLE_EQ(choice.resample, 1.0);
  EXPECT_DOUBLE_EQ(choice.tile_mpp, 0.499);
}

TEST(LevelChoice, AResidualFactorIsResampledAfterTheScaledDecode) {
  // 0.2273 -> 0.5 µm/px is 2.2x: decoded at 1/2, then 1.1x resampled.
  const auto c22 = with_decode_scale(choose_level(levels({1, 4, 16}), 0.2273, 0.5, 0.05), 8, 0.2273, 0.05);
  EXPECT_EQ(c22.decode_scale, 2);
  EXPECT_NEAR(c22.resample, 0.5 / 0.2273 / 2, 1e-12);
  EXPECT_DOUBLE_EQ(c22.tile_mpp, 0.5);

  // 0.25 -> 5 µm/px from the 16x level (4 µm/px) is 1.25x: below any scale.
  const auto c5 = with_decode_scale(choose_level(levels({1, 4, 16}), 0.25, 5.0, 0.05), 8, 0.25, 0.05);
  EXPECT_EQ(c5.level, 2);
  EXPECT_EQ(c5.decode_scale, 1);
  EXPECT_DOUBLE_EQ(c5.resample, 1.25);

  // 0.25 -> 0.9 µm/px from level 0 is 3.6x: 1/2, then 1.8x.
  const auto c36 = with_decode_scale(choose_level(levels({1, 4, 16}), 0.25, 0.9, 0.05), 8, 0.25, 0.05);
  EXPECT_EQ(c36.decode_scale, 2);
  EXPECT_DOUBLE_EQ(c36.resample, 1.8);
}

TEST(LevelChoice, TheDecodeScaleIsCappedByWhatTheLevelAllows) {
  // A single-level 40x slide at 10 µm/px: 40x, at most 1/8 by decoding.
  const auto choice = with_decode_scale(choose_level(levels({1}), 0.25, 10.0, 0.05), 8, 0.25, 0.05);
  EXPECT_EQ(choice.decode_scale, 8);
  EXPECT_DOUBLE_EQ(choice.resample, 5.0);
  const auto capped = with_decode_scale(choose_level(levels({1}), 0.25, 10.0, 0.05), 2, 0.25, 0.05);
  EXPECT_EQ(capped.decode_scale, 2);
  EXPECT_DOUBLE_EQ(capped.resample, 20.0);
  // Read through OpenSlide: no scaled decoding at all.
  const auto openslide = with_decode_scale(choose_level(levels({1}), 0.25, 10.0, 0.05), 1, 0.25, 0.05);
  EXPECT_EQ(openslide.decode_scale, 1);
  EXPECT_DOUBLE_EQ(openslide.resample, 40.0);
}

TEST(LevelChoice, NativePixelsAreNotDecodedReduced) {
  const auto native = with_decode_scale(choose_level(levels({1, 4, 16}), 0.499, 0.5, 0.05), 8, 0.499, 0.05);
  EXPECT_EQ(native.decode_scale, 1);
  EXPECT_DOUBLE_EQ(native.resample, 1.0);
  // 1.9x is short of 1/2 even with the tolerance: resampled, never upsampled.
  const auto short_of_half = with_decode_scale(choose_level(levels({1, 4, 16}), 0.25, 0.475, 0.05), 8, 0.25, 0.05);
  EXPECT_EQ(short_of_half.decode_scale, 1);
  EXPECT_DOUBLE_EQ(short_of_half.resample, 1.9);
}

TEST(LevelChoice, RefusesToUpsample) {
  EXPECT_THROW(choose_level(levels({1, 4}), 0.5, 0.25, 0.05), Error);
  // Within tolerance of level 0 is not upsampling.
  EXPECT_EQ(choose_level(levels({1, 4}), 0.5, 0.49, 0.05).level, 0);
}

TEST(LevelChoice, MagnificationFollowsTheSlidesObjective) {
  EXPECT_DOUBLE_EQ(target_mpp_for_magnification(20, 0.25, 40), 0.5);
  EXPECT_DOUBLE_EQ(target_mpp_for_magnification(10, 0.5, 20), 1.0);
  EXPECT_DOUBLE_EQ(target_mpp_for_magnification(20, 0.25, 0), 0.5);  // no objective: 10 / magnification
  EXPECT_THROW(target_mpp_for_magnification(0, 0.25, 40), Error);
}

}  // namespace
}  // namespace tessera::stages
