#pragma once

#include <cstdint>
#include <vector>

#include "stages/rgb_image.h"
#include "stages/tile_filter.h"
#include "stages/tissue_mask.h"

namespace tessera::stages {

struct QcTile {
  int64_t x = 0;  // level-0
  int64_t y = 0;
  int64_t extent = 0;
  FilterRule verdict = FilterRule::kKept;
};

// The QC picture: the thumbnail with the tissue contour (orange), kept tiles
// outlined green and read-but-rejected tiles filled by rule (background grey,
// pen blue, blur magenta). Tiles outside the mask are left unmarked: the
// contour already shows them.
RgbImage draw_qc_overlay(const RgbImage& thumbnail, const TissueMask& mask, const std::vector<QcTile>& tiles);

}  // namespace tessera::stages
