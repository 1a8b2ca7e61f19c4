#pragma once

#include <vector>

#include "slide/slide.h"

namespace tessera::stages {

struct LevelChoice {
  int level = 0;
  double level_downsample = 1;  // of the chosen level, from level 0
  double resample = 1;          // further downsample after decoding (1 = none)
  double tile_mpp = 0;          // µm/px of the output tiles
  int decode_scale = 1;         // the level is decoded at 1/decode_scale (ResampleMethod::kDctScaled)
};

// Picks the coarsest level whose pixels are at least as fine as `target_mpp`
// (within `tolerance`, relative), so tiles are only ever downsampled. When the
// chosen level is within tolerance of the target its native pixels are used
// unchanged (a 0.499 µm/px scan serves 0.5 µm/px), otherwise the remaining
// factor is resampled. A target finer than level 0 is refused: upsampling would
// invent detail.
LevelChoice choose_level(const std::vector<SlideLevel>& levels, double base_mpp, double target_mpp, double tolerance);

// Moves as much of `choice`'s resampling as it can into decoding: the largest
// of kDecodeScales up to `largest_scale` that stays at or below the resample
// factor (within `tolerance`), leaving the residual factor to resample. When
// the residual is within tolerance of 1 the scaled pixels are used unchanged,
// as choose_level uses a level near the target.
LevelChoice with_decode_scale(LevelChoice choice, int largest_scale, double base_mpp, double tolerance);

// The µm/px that a magnification means for this slide: scaled from the
// slide's own objective power when it has one, else 10/magnification.
double target_mpp_for_magnification(double magnification, double base_mpp, double objective_power);

}  // namespace tessera::stages
