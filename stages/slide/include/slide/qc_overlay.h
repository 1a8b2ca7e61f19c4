#pragma once

#include <cstdint>
#include <vector>

#include "imaging/rgb_image.h"
#include "slide/tile_filter.h"
#include "slide/tissue_mask.h"

namespace tessera::stages {

struct QcTile {
  int64_t x = 0;  // level-0
  int64_t y = 0;
  int64_t extent = 0;
  FilterRule verdict = FilterRule::kKept;
};

// The base of a slide's QC picture: the thumbnail with the tissue contour
// drawn in orange, scaled down to at most `max_side` pixels. `scale_x/y` give
// level-0 pixels per picture pixel. Made when a slide is planned, so that the
// thumbnail and mask can be freed while its tiles are read.
// The QC picture's longest side: small enough that the slides in flight cost
// little memory, large enough to see tiles.
inline constexpr int kQcSide = 1024;

struct QcBase {
  RgbImage image;
  double scale_x = 1;
  double scale_y = 1;
};
QcBase make_qc_base(const RgbImage& thumbnail, const TissueMask& mask, int max_side);

// The QC picture: kept tiles outlined green, read-but-rejected tiles filled by
// rule (background grey, pen blue, blur magenta). Tiles outside the mask are
// left unmarked: the contour already shows them.
RgbImage draw_tile_verdicts(const QcBase& base, const std::vector<QcTile>& tiles);

}  // namespace tessera::stages
