#include "imaging/bar_chart.h"

#include <algorithm>
#include <cmath>
#include <cstdio>

#include "base/error.h"
#include "chart_canvas.h"
#include "imaging/image_grid.h"

namespace tessera::stages {
namespace {

using namespace chart;

constexpr int kMarginLeft = 56;  // y tick labels
constexpr int kMarginRight = 12;
constexpr int kMarginTop = 34;     // the title
constexpr int kMarginBottom = 30;  // category names
constexpr int kLabelGap = 2;       // between a bar and its value
constexpr int kTextHeight = 14;    // a line of kFont at kDpi

std::string value_label(double value) {
  if (!std::isfinite(value)) return "n/a";
  char text[32];
  std::snprintf(text, sizeof text, std::abs(value) >= 100 || value == 0 ? "%.4g" : "%.3g", value);
  return text;
}

RgbImage render_panel(const BarPanel& panel) {
  if (panel.categories.size() != panel.values.size()) {
    throw Error("bar chart '" + panel.title + "': " + std::to_string(panel.categories.size()) + " categories and " +
                std::to_string(panel.values.size()) + " values");
  }
  RgbImage image(kBarPanelWidth, kBarPanelHeight, 255);
  Canvas canvas(image);
  const int left = kMarginLeft, right = kBarPanelWidth - kMarginRight;
  const int top = kMarginTop + kTextHeight, bottom = kBarPanelHeight - kMarginBottom;
  double low = 0, high = 0;
  for (const double v : panel.values) {
    if (!std::isfinite(v)) continue;
    low = std::min(low, v);
    high = std::max(high, v);
  }
  if (high == low) high = low + 1;
  const auto ticks = linear_ticks(low, high, 4);
  const double step = ticks.size() > 1 ? ticks[1] - ticks[0] : high - low;
  low = std::min(low, ticks.front());
  high = std::max(high, ticks.back());
  const auto y_of = [&](double v) { return int(std::lround(bottom - (v - low) / (high - low) * (bottom - top))); };
  for (const double tick : ticks) {
    const int y = y_of(tick);
    canvas.line(left, y, right, y, kGrid);
    canvas.text(tick_label(tick, step), left - 6, y - kTextHeight / 2, 1.0, kBlack);
  }
  canvas.line(left, y_of(0), right, y_of(0), kBlack);
  canvas.line(left, top, left, bottom, kBlack);
  const int n = int(panel.values.size());
  const double slot = double(right - left) / std::max(1, n);
  for (int i = 0; i < n; ++i) {
    const int x0 = left + int(std::lround(slot * (i + 0.2)));
    const int width = std::max(1, int(std::lround(slot * 0.6)));
    const double v = panel.values[size_t(i)];
    const int centre = x0 + width / 2;
    if (std::isfinite(v)) {
      const int y_value = y_of(v), y_zero = y_of(0);
      canvas.rect(x0, std::min(y_value, y_zero), width, std::max(1, std::abs(y_zero - y_value)),
                  ink_of(kPalette[size_t(i) % kPalette.size()]), true);
      canvas.text(value_label(v), centre, std::min(y_value, y_zero) - kTextHeight - kLabelGap, 0.5, kBlack);
    } else {
      canvas.text(value_label(v), centre, bottom - kTextHeight - kLabelGap, 0.5, kBlack);
    }
    canvas.text(panel.categories[size_t(i)], centre, bottom + 6, 0.5, kBlack);
  }
  canvas.text(panel.title, kBarPanelWidth / 2, 8, 0.5, kBlack, kTitleFont);
  return image;
}

}  // namespace

RgbImage render_bar_panels(const std::vector<BarPanel>& panels, int columns) {
  if (panels.empty()) throw Error("bar chart: no panels");
  ensure_vips();
  std::vector<RgbImage> images;
  images.reserve(panels.size());
  for (const auto& panel : panels) images.push_back(render_panel(panel));
  return make_image_grid(images, std::max(1, columns), 0);
}

void write_bar_panels(const std::vector<BarPanel>& panels, int columns, const std::string& png_path) {
  save_png(render_bar_panels(panels, columns), png_path);
}

}  // namespace tessera::stages
