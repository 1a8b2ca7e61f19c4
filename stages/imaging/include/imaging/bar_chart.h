#pragma once

// Bar charts as PNG: one small panel per quantity, a bar per category with
// its value written above it, panels side by side on a grid. Drawn with
// libvips like the loss plots; torch-free.

#include <string>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::stages {

struct BarPanel {
  std::string title;
  std::vector<std::string> categories;
  std::vector<double> values;  // one per category; NaN draws no bar and writes "n/a"
};

inline constexpr int kBarPanelWidth = 360;
inline constexpr int kBarPanelHeight = 240;

// Panels of kBarPanelWidth x kBarPanelHeight on a grid of `columns`. Bars
// start at 0 (or end there, for negative values). Throws tessera::Error for
// no panels, or a panel whose categories and values differ in number.
RgbImage render_bar_panels(const std::vector<BarPanel>& panels, int columns);

// Renders and writes the PNG under a temporary name, then renames it into
// place. Throws tessera::Error naming the file.
void write_bar_panels(const std::vector<BarPanel>& panels, int columns, const std::string& png_path);

}  // namespace tessera::stages
