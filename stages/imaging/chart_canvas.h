#pragma once

// What the charts share (loss_plot.cpp, bar_chart.cpp): colours, fonts, tick
// arithmetic and a canvas that draws lines, rectangles and pango text on an
// RgbImage through libvips.

#include <vips/vips.h>

#include <array>
#include <cstdint>
#include <string>
#include <utility>
#include <vector>

#include "imaging/rgb_image.h"
#include "imaging/vips_runtime.h"

namespace tessera::stages::chart {

inline constexpr const char* kFont = "sans 10";
inline constexpr const char* kTitleFont = "sans bold 12";
inline constexpr int kDpi = 96;

// Tableau's ten colours: distinct, and readable on white.
inline constexpr std::array<std::array<uint8_t, 3>, 10> kPalette = {{{31, 119, 180},
                                                                     {255, 127, 14},
                                                                     {44, 160, 44},
                                                                     {214, 39, 40},
                                                                     {148, 103, 189},
                                                                     {140, 86, 75},
                                                                     {227, 119, 194},
                                                                     {127, 127, 127},
                                                                     {188, 189, 34},
                                                                     {23, 190, 207}}};

using Ink = std::array<double, 3>;
inline const Ink kBlack = {0, 0, 0};
inline const Ink kGrid = {225, 225, 225};
inline const Ink kLegendBorder = {160, 160, 160};
inline const Ink kWhite = {255, 255, 255};

inline Ink ink_of(const std::array<uint8_t, 3>& rgb) { return {double(rgb[0]), double(rgb[1]), double(rgb[2])}; }

// 1, 2 or 5 times a power of ten, about range / target.
double nice_step(double range, int target);
// Ticks at multiples of nice_step(high - low, target) within [low, high].
std::vector<double> linear_ticks(double low, double high, int target);
// A tick's label, with as many decimals as the step needs.
std::string tick_label(double value, double step);
// pango markup: the names are user text.
std::string escape_markup(const std::string& text);

// Draws on an RgbImage in place through a libvips view of its pixels.
class Canvas {
 public:
  // `image` must outlive the canvas: the view draws into its pixels.
  explicit Canvas(RgbImage& image) : view_(wrap_rgb(image)) {}

  void line(int x1, int y1, int x2, int y2, const Ink& ink) {
    Ink copy = ink;
    if (vips_draw_line(view_.get(), copy.data(), 3, x1, y1, x2, y2, nullptr)) throw_vips_error("chart: line");
  }

  // Two pixels wide: the line and its copy one pixel right and one down.
  void thick_line(int x1, int y1, int x2, int y2, const Ink& ink) {
    line(x1, y1, x2, y2, ink);
    line(x1 + 1, y1, x2 + 1, y2, ink);
    line(x1, y1 + 1, x2, y2 + 1, ink);
  }

  void rect(int left, int top, int width, int height, const Ink& ink, bool fill) {
    Ink copy = ink;
    if (vips_draw_rect(view_.get(), copy.data(), 3, left, top, width, height, "fill", fill ? TRUE : FALSE, nullptr)) {
      throw_vips_error("chart: rectangle");
    }
  }

  // Text rendered by pango; returns its size. `anchor_x` in [0, 1] places
  // the text's left (0), centre (0.5) or right (1) at x; y is its top.
  std::pair<int, int> text(const std::string& text, int x, int y, double anchor_x, const Ink& ink,
                           const char* font = kFont, bool vertical = false) {
    if (text.empty()) return {0, 0};
    VipsRef mask;
    const std::string markup = escape_markup(text);
    if (vips_text(mask.out(), markup.c_str(), "font", font, "dpi", kDpi, nullptr)) {
      throw_vips_error("chart: text '" + text + "'");
    }
    if (vertical) {
      VipsRef rotated;
      if (vips_rot(mask.get(), rotated.out(), VIPS_ANGLE_D270, nullptr)) throw_vips_error("chart: text");
      mask = std::move(rotated);
    }
    const int width = vips_image_get_width(mask.get());
    const int height = vips_image_get_height(mask.get());
    Ink copy = ink;
    const int left = x - int(std::lround(anchor_x * width));
    if (vips_draw_mask(view_.get(), copy.data(), 3, mask.get(), left, y, nullptr)) throw_vips_error("chart: text");
    return {width, height};
  }

  int text_width(const std::string& text) {
    if (text.empty()) return 0;
    VipsRef mask;
    const std::string markup = escape_markup(text);
    if (vips_text(mask.out(), markup.c_str(), "font", kFont, "dpi", kDpi, nullptr)) {
      throw_vips_error("chart: text '" + text + "'");
    }
    return vips_image_get_width(mask.get());
  }

 private:
  VipsRef view_;
};

}  // namespace tessera::stages::chart
