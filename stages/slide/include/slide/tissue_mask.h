#pragma once

#include <array>
#include <cstdint>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::stages {

struct TissueOptions {
  // Longest side of the thumbnail the mask is computed on. Default: 2048.
  int thumbnail_side = 2048;
  // Saturation below this is never tissue, whatever Otsu says (a slide that is
  // all tissue or all glass has no bimodal histogram). Default: 20 (of 255).
  int min_saturation = 20;
  // Pixels darker than this (max channel) are excluded on brightfield slides:
  // black ink, label shadows, slide edges. Default: 30.
  int max_dark = 30;
  // Passes of a 3x3 median filter that remove speckle from the mask (two
  // passes approximate a 5x5 median without its cost). Default: 2.
  int median_passes = 2;
  // Fluorescence only: Gaussian sigma, in µm, applied before thresholding so
  // that dense nuclei merge into tissue. Default: 20.
  double fluorescence_smoothing_um = 20;
};

// A binary tissue mask over a thumbnail. `scale_x/y` are level-0 pixels per
// mask pixel.
struct TissueMask {
  int width = 0;
  int height = 0;
  double scale_x = 1;
  double scale_y = 1;
  std::vector<uint8_t> inside;  // 1 = tissue, row-major
  std::string method;           // "otsu-saturation" or "otsu-luminance"
  double threshold = 0;
  bool dark_background = false;  // fluorescence

  // Fraction of tissue pixels in a level-0 rectangle (O(1) via the summed-area
  // table built by finish()).
  double fraction(int64_t x, int64_t y, int64_t w, int64_t h) const;
  double tissue_fraction() const;
  void finish();

 private:
  std::vector<uint32_t> integral_;  // (width + 1) x (height + 1)
};

using Histogram = std::array<uint64_t, 256>;

// Otsu's threshold: the t maximising between-class variance of {< t} and
// {>= t}. Returns 0 for an empty or single-valued histogram.
int otsu_threshold(const Histogram& histogram);

// A mask from an RGB thumbnail. Brightfield (light background, detected from
// the thumbnail's border): tissue = HSV saturation >= max(Otsu, min_saturation)
// and not near-black. Fluorescence (dark background): tissue = smoothed
// luminance >= Otsu. A median filter then removes speckle. `mask_mpp` is the
// thumbnail's µm/px.
TissueMask compute_tissue_mask(const RgbImage& thumbnail, double scale_x, double scale_y, double mask_mpp,
                               const TissueOptions& options);

// True when the image's border is mostly dark (a fluorescence scan).
bool has_dark_background(const RgbImage& thumbnail);

}  // namespace tessera::stages
