#include "examples/synthetic_slide.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <random>
#include <vector>

#include "examples/level_tiff.h"
#include "imaging/vips_runtime.h"

namespace tessera::examples {
namespace {

struct Rgb {
  float r, g, b;
};

void paint_disc(std::vector<uint8_t>& px, int w, int h, int cx, int cy, int radius, Rgb c, float alpha) {
  for (int y = std::max(0, cy - radius); y <= std::min(h - 1, cy + radius); ++y) {
    for (int x = std::max(0, cx - radius); x <= std::min(w - 1, cx + radius); ++x) {
      if ((x - cx) * (x - cx) + (y - cy) * (y - cy) > radius * radius) continue;
      uint8_t* p = px.data() + (size_t(y) * w + x) * 3;
      p[0] = uint8_t(p[0] * (1 - alpha) + c.r * alpha);
      p[1] = uint8_t(p[1] * (1 - alpha) + c.g * alpha);
      p[2] = uint8_t(p[2] * (1 - alpha) + c.b * alpha);
    }
  }
}

}  // namespace

bool inside_tissue(const SyntheticSlideSpec& spec, double x, double y) {
  const double dx = (x / spec.width - 0.45) / 0.35;
  const double dy = (y / spec.height - 0.5) / 0.38;
  return dx * dx + dy * dy <= 1.0;
}

PixelRect pen_stroke_rect(const SyntheticSlideSpec& spec) {
  const int y = int(0.3 * spec.height);
  return {int(0.25 * spec.width), y - spec.pen_width_px / 2, int(0.6 * spec.width), y + spec.pen_width_px / 2};
}

PixelRect blurred_patch_rect(const SyntheticSlideSpec& spec) {
  const auto* a = spec.blur_area;
  return {int(std::lround(a[0] * spec.width)), int(std::lround(a[1] * spec.height)),
          int(std::lround(a[2] * spec.width)), int(std::lround(a[3] * spec.height))};
}

void write_synthetic_slide(const std::string& path, const SyntheticSlideSpec& spec) {
  stages::ensure_vips();
  const int w = spec.width, h = spec.height;
  std::vector<uint8_t> px(size_t(w) * h * 3);
  std::mt19937 rng(spec.seed);
  std::normal_distribution<float> noise(0.f, 1.f);
  std::uniform_real_distribution<float> unit(0.f, 1.f);

  // Stroma: eosin pink modulated by fibre-like streaks; glass: near white.
  const float fibre_freq = float(2 * M_PI / (14.0 / spec.mpp));
  for (int y = 0; y < h; ++y) {
    for (int x = 0; x < w; ++x) {
      uint8_t* p = px.data() + (size_t(y) * w + x) * 3;
      if (inside_tissue(spec, x, y)) {
        const float streak = 0.5f + 0.5f * std::sin(fibre_freq * (x * 0.8f + y * 0.6f) + 3.f * std::sin(y * 0.013f));
        const float n = noise(rng) * 9.f;
        p[0] = uint8_t(std::clamp(226.f - 25.f * streak + n, 0.f, 255.f));
        p[1] = uint8_t(std::clamp(150.f - 45.f * streak + n, 0.f, 255.f));
        p[2] = uint8_t(std::clamp(196.f - 20.f * streak + n, 0.f, 255.f));
      } else {
        const float n = noise(rng) * 2.5f;
        p[0] = uint8_t(std::clamp(242.f + n, 0.f, 255.f));
        p[1] = uint8_t(std::clamp(241.f + n, 0.f, 255.f));
        p[2] = uint8_t(std::clamp(244.f + n, 0.f, 255.f));
      }
    }
  }
  // Haematoxylin nuclei: about one per 120 µm², 3-5 µm in radius.
  const double tissue_area_um2 = M_PI * 0.35 * w * 0.38 * h * spec.mpp * spec.mpp;
  const int nuclei = int(tissue_area_um2 / 120.0);
  for (int i = 0; i < nuclei; ++i) {
    const int x = int(unit(rng) * w), y = int(unit(rng) * h);
    if (!inside_tissue(spec, x, y)) continue;
    const int radius = std::max(1, int((3.0 + 2.0 * unit(rng)) / spec.mpp));
    paint_disc(px, w, h, x, y, radius, {78.f + 20.f * unit(rng), 52.f, 140.f + 25.f * unit(rng)}, 0.85f);
  }
  if (spec.pen_stroke) {
    const auto r = pen_stroke_rect(spec);
    for (int y = std::max(0, r.y0); y < std::min(h, r.y1); ++y) {
      for (int x = std::max(0, r.x0); x < std::min(w, r.x1); ++x) {
        uint8_t* p = px.data() + (size_t(y) * w + x) * 3;
        const float n = noise(rng) * 6.f;
        p[0] = uint8_t(std::clamp(40.f + n, 0.f, 255.f));
        p[1] = uint8_t(std::clamp(130.f + n, 0.f, 255.f));
        p[2] = uint8_t(std::clamp(95.f + n, 0.f, 255.f));
      }
    }
  }

  stages::VipsRef image(vips_image_new_from_memory(px.data(), px.size(), w, h, 3, VIPS_FORMAT_UCHAR));
  if (!image.get()) stages::throw_vips_error("synthetic slide");
  if (spec.blurred_patch) {
    const auto r = blurred_patch_rect(spec);
    stages::VipsRef patch, blurred, composed;
    if (vips_extract_area(image.get(), patch.out(), r.x0, r.y0, r.x1 - r.x0, r.y1 - r.y0, nullptr) ||
        vips_gaussblur(patch.get(), blurred.out(), spec.blur_sigma_px, nullptr) ||
        vips_insert(image.get(), blurred.get(), composed.out(), r.x0, r.y0, nullptr)) {
      stages::throw_vips_error("synthetic slide blur");
    }
    image = std::move(composed);
  }
  stages::VipsRef srgb;
  const double pixels_per_mm = spec.write_resolution ? 1000.0 / spec.mpp : 1.0;
  if (vips_copy(image.get(), srgb.out(), "interpretation", VIPS_INTERPRETATION_sRGB, "xres", pixels_per_mm, "yres",
                pixels_per_mm, nullptr)) {
    stages::throw_vips_error("synthetic slide");
  }
  if (!spec.level_downsamples.empty()) {
    write_level_tiff(srgb.get(), path, {spec.level_downsamples, spec.mpp, spec.jpeg_quality, spec.rgb_jpeg});
    return;
  }
  if (vips_tiffsave(srgb.get(), path.c_str(), "tile", TRUE, "tile_width", 256, "tile_height", 256, "pyramid", TRUE,
                    "compression", VIPS_FOREIGN_TIFF_COMPRESSION_JPEG, "Q", spec.jpeg_quality, "resunit",
                    VIPS_FOREIGN_TIFF_RESUNIT_CM, nullptr)) {
    stages::throw_vips_error("cannot write " + path);
  }
}

}  // namespace tessera::examples
