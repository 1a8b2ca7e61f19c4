#include "slide/level_choice.h"

#include <cmath>
#include <sstream>

#include "base/error.h"
#include "slide/resample_method.h"

namespace tessera::stages {

LevelChoice choose_level(const std::vector<SlideLevel>& levels, double base_mpp, double target_mpp, double tolerance) {
  if (levels.empty()) throw Error("slide has no levels");
  if (!(target_mpp > 0) || !(base_mpp > 0)) throw Error("target and base microns-per-pixel must be positive");
  if (target_mpp < base_mpp * (1 - tolerance)) {
    std::ostringstream message;
    message << "target " << target_mpp << " um/px is finer than the slide's level 0 (" << base_mpp
            << " um/px); tessera does not upsample";
    throw Error(message.str());
  }
  LevelChoice choice;
  for (size_t i = 0; i < levels.size(); ++i) {
    const double level_mpp = base_mpp * levels[i].downsample;
    if (level_mpp <= target_mpp * (1 + tolerance)) {
      choice.level = int(i);
      choice.level_downsample = levels[i].downsample;
    }
  }
  const double level_mpp = base_mpp * choice.level_downsample;
  const double factor = target_mpp / level_mpp;
  if (std::abs(factor - 1) <= tolerance) {
    choice.resample = 1;
    choice.tile_mpp = level_mpp;
  } else {
    choice.resample = factor;
    choice.tile_mpp = target_mpp;
  }
  return choice;
}

LevelChoice with_decode_scale(LevelChoice choice, int largest_scale, double base_mpp, double tolerance) {
  int scale = 1;
  for (const int s : kDecodeScales) {
    if (s <= largest_scale && s <= choice.resample * (1 + tolerance)) scale = s;
  }
  if (scale == 1) return choice;
  choice.decode_scale = scale;
  choice.resample /= scale;
  if (std::abs(choice.resample - 1) <= tolerance) {
    choice.resample = 1;
    choice.tile_mpp = base_mpp * choice.level_downsample * scale;
  }
  return choice;
}

double target_mpp_for_magnification(double magnification, double base_mpp, double objective_power) {
  if (!(magnification > 0)) throw Error("magnification must be positive");
  if (objective_power > 0) return base_mpp * objective_power / magnification;
  return 10.0 / magnification;
}

}  // namespace tessera::stages
