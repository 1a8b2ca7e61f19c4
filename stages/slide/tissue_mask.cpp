#include "slide/tissue_mask.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "imaging/vips_runtime.h"

namespace tessera::stages {
namespace {

// Runs a libvips operation over one 8-bit plane, in place.
template <typename Operation>
void filter_plane(std::vector<uint8_t>& plane, int width, int height, const char* what, Operation operation) {
  VipsRef in(vips_image_new_from_memory(plane.data(), plane.size(), width, height, 1, VIPS_FORMAT_UCHAR));
  if (!in.get()) throw_vips_error(what);
  VipsRef out;
  if (operation(in.get(), out.out())) throw_vips_error(what);
  size_t size = 0;
  void* memory = vips_image_write_to_memory(out.get(), &size);
  if (!memory || size != plane.size()) {
    g_free(memory);
    throw_vips_error(what);
  }
  std::memcpy(plane.data(), memory, size);
  g_free(memory);
}

// The 3x3 median of a 0/255 mask: 255 where at least 5 of the 9 pixels are
// set. libvips's rank filter sorts every window; its integer convolution sums
// it, with the same edge rule (the edge pixels repeated) and the same output,
// three times faster (bench/probe spends most of a slide here).
int majority_of_3x3(VipsImage* in, VipsImage** out) {
  VipsRef window(vips_image_new_matrixv(3, 3, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0, 1.0));
  vips_image_set_double(window.get(), "scale", 9.0);  // the window's mean: 255 * k / 9 for k set pixels
  VipsRef mean;
  if (vips_conv(in, mean.out(), window.get(), "precision", VIPS_PRECISION_INTEGER, nullptr)) return -1;
  // k = 5 gives 141.7, rounded to 142; k = 4 gives 113.
  return vips_moreeq_const1(mean.get(), out, 255.0 * 5 / 9 - 0.5, nullptr);
}

}  // namespace

int otsu_threshold(const Histogram& histogram) {
  uint64_t total = 0;
  double sum_all = 0;
  for (int i = 0; i < 256; ++i) {
    total += histogram[i];
    sum_all += double(i) * double(histogram[i]);
  }
  if (total == 0) return 0;
  uint64_t below = 0;
  double sum_below = 0;
  double best_variance = -1;
  int best = 0;
  for (int t = 1; t < 256; ++t) {
    below += histogram[t - 1];
    sum_below += double(t - 1) * double(histogram[t - 1]);
    const uint64_t above = total - below;
    if (below == 0 || above == 0) continue;
    const double mean_below = sum_below / double(below);
    const double mean_above = (sum_all - sum_below) / double(above);
    const double variance = double(below) * double(above) * (mean_below - mean_above) * (mean_below - mean_above);
    if (variance > best_variance) {
      best_variance = variance;
      best = t;
    }
  }
  return best;
}

bool has_dark_background(const RgbImage& thumbnail) {
  // The outer 5% ring is glass in almost every scan; its median brightness
  // tells brightfield (white glass) from fluorescence (black).
  const int bx = std::max(1, thumbnail.width / 20);
  const int by = std::max(1, thumbnail.height / 20);
  Histogram brightness{};
  for (int y = 0; y < thumbnail.height; ++y) {
    for (int x = 0; x < thumbnail.width; ++x) {
      if (x >= bx && x < thumbnail.width - bx && y >= by && y < thumbnail.height - by) continue;
      const uint8_t* p = thumbnail.at(x, y);
      ++brightness[std::max({p[0], p[1], p[2]})];
    }
  }
  uint64_t total = 0;
  for (auto n : brightness) total += n;
  uint64_t seen = 0;
  for (int v = 0; v < 256; ++v) {
    seen += brightness[v];
    if (seen * 2 >= total) return v < 80;
  }
  return false;
}

TissueMask compute_tissue_mask(const RgbImage& thumbnail, double scale_x, double scale_y, double mask_mpp,
                               const TissueOptions& options) {
  TissueMask mask;
  mask.width = thumbnail.width;
  mask.height = thumbnail.height;
  mask.scale_x = scale_x;
  mask.scale_y = scale_y;
  mask.dark_background = has_dark_background(thumbnail);

  const size_t n = size_t(mask.width) * size_t(mask.height);
  std::vector<uint8_t> channel(n);
  Histogram histogram{};
  for (size_t i = 0; i < n; ++i) {
    const uint8_t* p = thumbnail.pixels.data() + i * 3;
    const int hi = std::max({p[0], p[1], p[2]});
    const int lo = std::min({p[0], p[1], p[2]});
    uint8_t value;
    if (mask.dark_background) {
      value = uint8_t((77 * p[0] + 150 * p[1] + 29 * p[2]) >> 8);
    } else {
      value = hi == 0 ? 0 : uint8_t((hi - lo) * 255 / hi);
    }
    channel[i] = value;
    ++histogram[value];
  }
  if (mask.dark_background) {
    // Nuclear stains are punctate: smoothing first turns dense nuclei into an
    // area, so the mask covers tissue rather than single nuclei.
    const double sigma = std::clamp(options.fluorescence_smoothing_um / mask_mpp, 1.0, 50.0);
    filter_plane(channel, mask.width, mask.height, "tissue mask smoothing", [sigma](VipsImage* in, VipsImage** out) {
      return vips_gaussblur(in, out, sigma, "precision", VIPS_PRECISION_INTEGER, nullptr);
    });
    histogram.fill(0);
    for (const auto v : channel) ++histogram[v];
  }
  const int otsu = otsu_threshold(histogram);
  std::vector<uint8_t> raw(n);
  if (mask.dark_background) {
    mask.method = "otsu-luminance";
    mask.threshold = std::max(otsu, 1);
    for (size_t i = 0; i < n; ++i) raw[i] = channel[i] >= mask.threshold ? 255 : 0;
  } else {
    mask.method = "otsu-saturation";
    mask.threshold = std::max(otsu, options.min_saturation);
    for (size_t i = 0; i < n; ++i) {
      const uint8_t* p = thumbnail.pixels.data() + i * 3;
      const bool dark = std::max({p[0], p[1], p[2]}) < options.max_dark;
      raw[i] = channel[i] >= mask.threshold && !dark ? 255 : 0;
    }
  }

  mask.inside.assign(n, 0);
  if (mask.width >= 3 && mask.height >= 3) {
    for (int pass = 0; pass < options.median_passes; ++pass) {
      filter_plane(raw, mask.width, mask.height, "tissue mask median", majority_of_3x3);
    }
  }
  for (size_t i = 0; i < n; ++i) mask.inside[i] = raw[i] ? 1 : 0;
  mask.finish();
  return mask;
}

void TissueMask::finish() {
  const size_t stride = size_t(width) + 1;
  integral_.assign(stride * (size_t(height) + 1), 0);
  for (int y = 0; y < height; ++y) {
    uint32_t row = 0;
    for (int x = 0; x < width; ++x) {
      row += inside[size_t(y) * width + x];
      integral_[(y + 1) * stride + x + 1] = integral_[y * stride + x + 1] + row;
    }
  }
}

double TissueMask::fraction(int64_t x, int64_t y, int64_t w, int64_t h) const {
  if (width == 0 || height == 0 || w <= 0 || h <= 0) return 0;
  // Mask pixels that the rectangle overlaps; at least one pixel so that tiles
  // smaller than a mask pixel still get an answer.
  auto clamp_x = [&](double v) { return int(std::clamp(v, 0.0, double(width))); };
  auto clamp_y = [&](double v) { return int(std::clamp(v, 0.0, double(height))); };
  int x0 = clamp_x(std::floor(double(x) / scale_x));
  int y0 = clamp_y(std::floor(double(y) / scale_y));
  int x1 = clamp_x(std::ceil(double(x + w) / scale_x));
  int y1 = clamp_y(std::ceil(double(y + h) / scale_y));
  if (x1 <= x0) x1 = std::min(width, x0 + 1), x0 = x1 - 1;
  if (y1 <= y0) y1 = std::min(height, y0 + 1), y0 = y1 - 1;
  const size_t stride = size_t(width) + 1;
  const uint64_t sum = uint64_t(integral_[y1 * stride + x1]) - integral_[y0 * stride + x1] -
                       integral_[y1 * stride + x0] + integral_[y0 * stride + x0];
  return double(sum) / double(int64_t(x1 - x0) * (y1 - y0));
}

double TissueMask::tissue_fraction() const {
  if (inside.empty()) return 0;
  uint64_t count = 0;
  for (auto v : inside) count += v;
  return double(count) / double(inside.size());
}

}  // namespace tessera::stages
