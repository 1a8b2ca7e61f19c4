#include "imaging/image_metrics.h"

#include <cmath>
#include <limits>

#include "base/error.h"

namespace tessera::stages {

double psnr(const RgbImage& a, const RgbImage& b) {
  if (a.width != b.width || a.height != b.height) throw Error("PSNR of images of different sizes");
  double squared = 0;
  for (size_t i = 0; i < a.pixels.size(); ++i) {
    const double d = double(a.pixels[i]) - double(b.pixels[i]);
    squared += d * d;
  }
  if (squared == 0) return std::numeric_limits<double>::infinity();
  return 10 * std::log10(255.0 * 255.0 * double(a.pixels.size()) / squared);
}

}  // namespace tessera::stages
