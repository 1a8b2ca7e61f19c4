#pragma once

#include <string>

namespace tessera::stages {

// How tiles are made when the target resolution falls between a slide's levels.
enum class ResampleMethod {
  // libvips reduce (Lanczos3) from the level's full-resolution pixels.
  kLanczos3,
  // JPEG levels read directly: each source tile is decoded at 1/2, 1/4 or 1/8
  // of its size by libjpeg-turbo's scaled inverse DCT (kDecodeScales), the
  // largest that stays at or below the factor; any residual factor is then
  // resampled with Lanczos3. Several times less decode work; other levels
  // fall back to kLanczos3.
  kDctScaled,
};

// Lanczos3: on real tissue DCT scaling is 36.4 dB from it at 2x, 33.4 at 4x
// and 35.8 at 2.2x, below the 38 dB at which the faster method would be the
// default, and it moves the blur filter's verdict on tiles near its threshold
// (bench/resample_quality, docs/BENCHMARKS.md).
inline constexpr ResampleMethod kDefaultResampleMethod = ResampleMethod::kLanczos3;

// kDctScaled reads the tissue mask's thumbnail from the coarsest level with
// at least this fraction of the thumbnail's side, not all of it, and leaves it
// that small. A 40x scan with levels at 4x and 16x whose 16x level is just
// short of the side (the 30,000 px slide of bench/ingest) is then read at
// 16x, with a sixteenth of the 4x level's pixels to decode and nothing to
// resample.
inline constexpr double kDctScaledThumbnailFraction = 0.5;

// The decode scales libjpeg's scaled IDCT offers for reducing, largest last.
inline constexpr int kDecodeScales[] = {1, 2, 4, 8};

// "lanczos3", "dct-scaled".
const char* to_string(ResampleMethod method);
// Throws tessera::Error naming the accepted names.
ResampleMethod resample_method_from_string(const std::string& name);

}  // namespace tessera::stages
