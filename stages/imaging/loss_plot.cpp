#include "imaging/loss_plot.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>

#include "base/error.h"
#include "chart_canvas.h"
#include "imaging/vips_runtime.h"

namespace tessera::stages {
namespace {

using namespace chart;

constexpr int kMinWidth = 320;
constexpr int kMinHeight = 240;
constexpr int kMarginLeft = 84;  // room for the y tick labels and the rotated y label
constexpr int kMarginRight = 24;
constexpr int kMarginTop = 44;     // the title
constexpr int kMarginBottom = 58;  // x tick labels and the x label
bool plottable(double value, bool log_y) { return std::isfinite(value) && (!log_y || value > 0); }

double axis_value(double value, bool log_y) { return log_y ? std::log10(value) : value; }

// The series' plottable points, as (step, value).
std::vector<LossPoint> plottable_points(const LossSeries& series, bool log_y) {
  std::vector<LossPoint> points;
  points.reserve(series.points.size());
  for (const LossPoint& point : series.points) {
    if (plottable(point.value, log_y)) points.push_back(point);
  }
  return points;
}

size_t window_for(size_t count, const LossPlotOptions& options) {
  if (options.smooth_window > 0) return options.smooth_window;
  return std::max<size_t>(2, count / 50);
}

bool smoothed(size_t count, const LossPlotOptions& options) { return count > options.smooth_above; }

void draw_axes(Canvas& canvas, const LossPlotFrame& frame, const LossPlotOptions& options) {
  const int plot_width = frame.right - frame.left;
  const int plot_height = frame.bottom - frame.top;

  // x: steps, whole numbers.
  double x_step = nice_step(frame.x_max - frame.x_min, std::max(2, plot_width / 110));
  x_step = std::max(1.0, x_step);
  for (double tick = std::ceil(frame.x_min / x_step) * x_step; tick <= frame.x_max + 1e-9; tick += x_step) {
    const int x = int(std::lround(frame.x_pixel(tick)));
    canvas.line(x, frame.top, x, frame.bottom, kGrid);
    canvas.line(x, frame.bottom, x, frame.bottom + 5, kBlack);
    canvas.text(tick_label(tick, x_step), x, frame.bottom + 8, 0.5, kBlack);
  }

  // y: linear ticks, or on a log axis the powers of ten (every few decades
  // when there are many; nice linear values inside a single decade).
  std::vector<std::pair<double, std::string>> y_ticks;  // axis position, label
  const int target = std::max(2, plot_height / 60);
  if (!frame.log_y) {
    const double step = nice_step(frame.y_max - frame.y_min, target);
    for (double tick : linear_ticks(frame.y_min, frame.y_max, target))
      y_ticks.emplace_back(tick, tick_label(tick, step));
  } else if (frame.y_max - frame.y_min >= 1.0) {
    const int first = int(std::ceil(frame.y_min - 1e-9));
    const int last = int(std::floor(frame.y_max + 1e-9));
    const int every = std::max(1, (last - first + 1 + target - 1) / target);
    // Over a few decades 2 and 5 times each power are marked as well.
    const bool fine = frame.y_max - frame.y_min < 3.0;
    for (int power = first - 1; power <= last; ++power) {
      for (double mantissa : {1.0, 2.0, 5.0}) {
        if (mantissa != 1.0 && !fine) continue;
        if (mantissa == 1.0 && (power < first || (power - first) % every != 0)) continue;
        const double position = power + std::log10(mantissa);
        if (position < frame.y_min || position > frame.y_max) continue;
        char text[32];
        std::snprintf(text, sizeof text, "%g", mantissa * std::pow(10.0, power));
        y_ticks.emplace_back(position, text);
      }
    }
  } else {
    const double low = std::pow(10.0, frame.y_min);
    const double high = std::pow(10.0, frame.y_max);
    const double step = nice_step(high - low, target);
    for (double tick : linear_ticks(low, high, target)) {
      if (tick > 0) y_ticks.emplace_back(std::log10(tick), tick_label(tick, step));
    }
  }
  for (const auto& [position, label] : y_ticks) {
    const int y = int(std::lround(frame.bottom - (position - frame.y_min) / (frame.y_max - frame.y_min) * plot_height));
    canvas.line(frame.left, y, frame.right, y, kGrid);
    canvas.line(frame.left - 5, y, frame.left, y, kBlack);
    canvas.text(label, frame.left - 8, y - 7, 1.0, kBlack);
  }

  canvas.rect(frame.left, frame.top, plot_width + 1, plot_height + 1, kBlack, false);
  canvas.text(options.x_label, (frame.left + frame.right) / 2, frame.bottom + 30, 0.5, kBlack);
  const std::string y_label = options.y_label + (options.log_y ? " (log scale)" : "");
  const int y_label_length = canvas.text_width(y_label);
  canvas.text(y_label, 6, (frame.top + frame.bottom) / 2 - y_label_length / 2, 0.0, kBlack, kFont, true);
}

void draw_series(Canvas& canvas, const LossPlotFrame& frame, const std::vector<LossPoint>& points,
                 const std::array<uint8_t, 3>& colour, const std::array<uint8_t, 3>& faint, bool smooth,
                 size_t window) {
  if (points.empty()) return;
  auto x_of = [&](double step) { return int(std::lround(frame.x_pixel(step))); };
  auto y_of = [&](double value) { return int(std::lround(frame.y_pixel(value))); };
  const Ink raw_ink = ink_of(smooth ? faint : colour);
  if (points.size() == 1) {
    canvas.rect(x_of(double(points[0].step)) - 1, y_of(points[0].value) - 1, 3, 3, raw_ink, true);
  }
  for (size_t i = 1; i < points.size(); ++i) {
    const int x1 = x_of(double(points[i - 1].step)), y1 = y_of(points[i - 1].value);
    const int x2 = x_of(double(points[i].step)), y2 = y_of(points[i].value);
    if (smooth) {
      canvas.line(x1, y1, x2, y2, raw_ink);
    } else {
      canvas.thick_line(x1, y1, x2, y2, raw_ink);
    }
  }
  if (!smooth) return;
  // Averaged on the axis scale, so that a log axis shows the geometric mean.
  std::vector<double> values;
  values.reserve(points.size());
  for (const LossPoint& point : points) values.push_back(axis_value(point.value, frame.log_y));
  const std::vector<double> average = moving_average(values, window);
  auto y_axis = [&](double position) {
    return int(std::lround(frame.bottom -
                           (position - frame.y_min) / (frame.y_max - frame.y_min) * (frame.bottom - frame.top)));
  };
  const Ink ink = ink_of(colour);
  for (size_t i = 1; i < points.size(); ++i) {
    canvas.thick_line(x_of(double(points[i - 1].step)), y_axis(average[i - 1]), x_of(double(points[i].step)),
                      y_axis(average[i]), ink);
  }
}

void draw_legend(Canvas& canvas, const LossPlotFrame& frame, const std::vector<LossSeries>& series) {
  constexpr int kRow = 18, kSample = 24, kPad = 8;
  int widest = 0;
  for (const LossSeries& s : series) widest = std::max(widest, canvas.text_width(s.name));
  const int width = kPad + kSample + 6 + widest + kPad;
  const int height = kPad + kRow * int(series.size()) + kPad / 2;
  const int left = frame.right - 10 - width;
  const int top = frame.top + 10;
  canvas.rect(left, top, width, height, kWhite, true);
  canvas.rect(left, top, width, height, kLegendBorder, false);
  for (size_t i = 0; i < series.size(); ++i) {
    const int y = top + kPad + kRow * int(i);
    canvas.thick_line(left + kPad, y + 7, left + kPad + kSample, y + 7, ink_of(loss_plot_colour(i)));
    canvas.text(series[i].name, left + kPad + kSample + 6, y, 0.0, kBlack);
  }
}

}  // namespace

double LossPlotFrame::x_pixel(double step) const { return left + (step - x_min) / (x_max - x_min) * (right - left); }

double LossPlotFrame::y_pixel(double value) const {
  return bottom - (axis_value(value, log_y) - y_min) / (y_max - y_min) * (bottom - top);
}

std::array<uint8_t, 3> loss_plot_colour(size_t index) { return kPalette[index % kPalette.size()]; }

std::array<uint8_t, 3> loss_plot_faint_colour(size_t index) {
  std::array<uint8_t, 3> faint = loss_plot_colour(index);
  for (uint8_t& channel : faint) channel = uint8_t((int(channel) + 2 * 255) / 3);
  return faint;
}

std::vector<double> moving_average(const std::vector<double>& values, size_t window) {
  std::vector<double> prefix(values.size() + 1, 0.0);
  for (size_t i = 0; i < values.size(); ++i) prefix[i + 1] = prefix[i] + values[i];
  std::vector<double> average(values.size());
  const size_t before = window / 2;
  const size_t after = window - before;  // exclusive
  for (size_t i = 0; i < values.size(); ++i) {
    const size_t begin = i >= before ? i - before : 0;
    const size_t end = std::min(values.size(), i + after);
    average[i] = (prefix[end] - prefix[begin]) / double(end - begin);
  }
  return average;
}

LossPlotFrame loss_plot_frame(const std::vector<LossSeries>& series, const LossPlotOptions& options) {
  LossPlotFrame frame;
  frame.log_y = options.log_y;
  frame.left = kMarginLeft;
  frame.top = kMarginTop;
  frame.right = options.width - 1 - kMarginRight;
  frame.bottom = options.height - 1 - kMarginBottom;
  double x_low = std::numeric_limits<double>::infinity(), x_high = -x_low;
  double y_low = x_low, y_high = -x_low;
  for (const LossSeries& s : series) {
    for (const LossPoint& point : plottable_points(s, options.log_y)) {
      x_low = std::min(x_low, double(point.step));
      x_high = std::max(x_high, double(point.step));
      const double y = axis_value(point.value, options.log_y);
      y_low = std::min(y_low, y);
      y_high = std::max(y_high, y);
    }
  }
  if (!(x_low <= x_high)) x_low = 0, x_high = 1;
  if (x_low == x_high) x_low -= 1, x_high += 1;
  if (!(y_low <= y_high)) y_low = 0, y_high = 1;
  if (y_low == y_high) {
    const double half = options.log_y ? 0.5 : std::max(1e-12, std::abs(y_low) * 0.1);
    y_low -= half, y_high += half;
  }
  // A little room above and below, so that extremes do not sit on the frame.
  const double pad = (y_high - y_low) * 0.05;
  frame.x_min = x_low;
  frame.x_max = x_high;
  frame.y_min = y_low - pad;
  frame.y_max = y_high + pad;
  return frame;
}

RgbImage render_loss_plot(const std::vector<LossSeries>& series, const LossPlotOptions& options) {
  if (options.width < kMinWidth || options.height < kMinHeight) {
    throw Error("loss plot: " + std::to_string(options.width) + "x" + std::to_string(options.height) +
                " is too small (at least " + std::to_string(kMinWidth) + "x" + std::to_string(kMinHeight) + ")");
  }
  ensure_vips();
  RgbImage image(options.width, options.height, 255);
  Canvas canvas(image);
  const LossPlotFrame frame = loss_plot_frame(series, options);
  draw_axes(canvas, frame, options);
  for (size_t i = 0; i < series.size(); ++i) {
    const std::vector<LossPoint> points = plottable_points(series[i], options.log_y);
    draw_series(canvas, frame, points, loss_plot_colour(i), loss_plot_faint_colour(i), smoothed(points.size(), options),
                window_for(points.size(), options));
  }
  if (!series.empty()) draw_legend(canvas, frame, series);
  canvas.text(options.title, options.width / 2, 12, 0.5, kBlack, kTitleFont);
  return image;
}

void write_loss_plot(const std::vector<LossSeries>& series, const LossPlotOptions& options,
                     const std::string& png_path) {
  save_png(render_loss_plot(series, options), png_path);
}

}  // namespace tessera::stages
