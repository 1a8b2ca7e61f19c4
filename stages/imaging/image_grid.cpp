#include "imaging/image_grid.h"

#include <algorithm>
#include <cstring>
#include <stdexcept>

namespace tessera::stages {

RgbImage make_image_grid(const std::vector<RgbImage>& images, int columns, int gap, uint8_t background) {
  if (images.empty()) throw std::invalid_argument("an image grid needs at least one image");
  if (columns < 1) throw std::invalid_argument("an image grid needs at least one column");
  if (gap < 0) throw std::invalid_argument("an image grid's gap cannot be negative");
  const int count = int(images.size());
  columns = std::min(columns, count);
  const int rows = (count + columns - 1) / columns;
  int cell_width = 0, cell_height = 0;
  for (const auto& image : images) {
    cell_width = std::max(cell_width, image.width);
    cell_height = std::max(cell_height, image.height);
  }
  RgbImage grid(columns * cell_width + (columns - 1) * gap, rows * cell_height + (rows - 1) * gap, background);
  for (int i = 0; i < count; ++i) {
    const auto& image = images[size_t(i)];
    const int left = (i % columns) * (cell_width + gap);
    const int top = (i / columns) * (cell_height + gap);
    for (int y = 0; y < image.height; ++y) {
      std::memcpy(grid.at(left, top + y), image.at(0, y), size_t(image.width) * 3);
    }
  }
  return grid;
}

}  // namespace tessera::stages
