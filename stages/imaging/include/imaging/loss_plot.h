#pragma once

// Training-loss charts as PNG: one polyline per series in its own colour,
// axes with tick labels (steps on x, loss on y, optionally log-scaled), a
// legend and a title. A series with many points is drawn faintly with its
// moving average over it, so that the trend shows through the noise. Drawn
// with libvips (lines, rectangles, pango text); torch-free.

#include <array>
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::stages {

struct LossPoint {
  int64_t step = 0;
  double value = 0;
};

struct LossSeries {
  std::string name;
  std::vector<LossPoint> points;  // in step order; non-finite values (and, on a log axis, values <= 0) are skipped
};

struct LossPlotOptions {
  int width = 1000;  // pixels; at least 320 x 240
  int height = 600;
  std::string title = "training loss";
  std::string x_label = "step";
  std::string y_label = "loss";
  bool log_y = false;
  // A series with more points than this is drawn faintly, with its centred
  // moving average over it in full colour.
  size_t smooth_above = 100;
  // Points per moving-average window; 0 picks a fiftieth of the series (at least 2).
  size_t smooth_window = 0;
};

// Where values land on the picture: the plot area's inclusive pixel bounds
// and the axis ranges (log10 of the values on a log y axis).
struct LossPlotFrame {
  int left = 0, top = 0, right = 0, bottom = 0;
  double x_min = 0, x_max = 1, y_min = 0, y_max = 1;
  bool log_y = false;

  double x_pixel(double step) const;
  double y_pixel(double value) const;
};

// The frame render_loss_plot uses for these series and options.
LossPlotFrame loss_plot_frame(const std::vector<LossSeries>& series, const LossPlotOptions& options);

// The line colour of the index-th series (RGB); a faint raw line is this
// colour mixed with a third of it and two thirds of white.
std::array<uint8_t, 3> loss_plot_colour(size_t index);
std::array<uint8_t, 3> loss_plot_faint_colour(size_t index);

// The centred moving average of `values` over windows of `window` points
// (clipped at the ends).
std::vector<double> moving_average(const std::vector<double>& values, size_t window);

// Throws tessera::Error for a picture smaller than 320 x 240.
RgbImage render_loss_plot(const std::vector<LossSeries>& series, const LossPlotOptions& options);

// Renders and writes the PNG beside `png_path` under a temporary name, then
// renames it into place. Throws tessera::Error naming the file.
void write_loss_plot(const std::vector<LossSeries>& series, const LossPlotOptions& options,
                     const std::string& png_path);

}  // namespace tessera::stages
