#pragma once

#include "imaging/rgb_image.h"

namespace tessera::stages {

// Peak signal-to-noise ratio in dB of two images of equal size (infinity when
// identical); the fidelity measure for stored tile pixels.
double psnr(const RgbImage& a, const RgbImage& b);

}  // namespace tessera::stages
