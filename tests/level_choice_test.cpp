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
