#pragma once

#include <cstdint>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// A contact sheet: `images` in row-major order on a grid of `columns` (fewer
// when there are fewer images) whose cells are as large as the largest image,
// with `gap` pixels of `background` between cells and none around the edge.
// Each image sits at its cell's top-left corner; the rest of the cell is
// background. Throws std::invalid_argument for no images, columns < 1 or a
// negative gap.
RgbImage make_image_grid(const std::vector<RgbImage>& images, int columns, int gap = 2, uint8_t background = 255);

}  // namespace tessera::stages
