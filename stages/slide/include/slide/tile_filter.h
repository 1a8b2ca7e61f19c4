#pragma once

#include <array>
#include <string>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// The rules a tile can fail, in the order they are applied; a rejected tile is
// counted under the first rule it fails.
enum class FilterRule { kKept = 0, kTissue, kBackground, kPen, kBlur };
inline constexpr std::array<FilterRule, 4> kRejectionRules = {FilterRule::kTissue, FilterRule::kBackground,
                                                              FilterRule::kPen, FilterRule::kBlur};
const char* to_string(FilterRule rule);

// The largest variance the 4-neighbour Laplacian of 8-bit grey pixels can
// have (its values lie within ±4·255): a higher --min-blur-variance would
// reject every tile.
inline constexpr double kMaxBlurVariance = 1020.0 * 1020.0;

struct FilterOptions {
  // Minimum fraction of the tile inside the tissue mask. Default: 0.25.
  double min_tissue = 0.25;
  // Maximum fraction of background pixels (near-white glass on brightfield,
  // near-black on fluorescence). Default: 0.6.
  double max_background = 0.6;
  // Maximum fraction of pen-ink pixels. Default: 0.05.
  double max_pen = 0.05;
  // Minimum variance of the Laplacian of the grey tile; below it the tile is
  // out of focus. Default: 100 (docs/FILTERS.md: sharp CMU-1 tiles score
  // 564 or more, the same tiles blurred with sigma 2 px at most 58).
  double min_blur_variance = 100;
  // A brightfield pixel whose channels are all at least this is glass.
  // Default: 220.
  int white_level = 220;
  // A fluorescence pixel whose channels are all at most this is background.
  // Default: 25.
  int dark_level = 25;
};

struct FilterScores {
  double tissue_fraction = 0;  // from the mask, before the tile was read
  double background_fraction = 0;
  double pen_fraction = 0;
  double blur_variance = 0;
};

// Pure per-pixel scores of one tile. Pen ink is a pixel whose green exceeds its
// red by 15 with a chroma above 40 (green, blue and teal markers; haematoxylin
// and eosin always keep red at or above green), or one whose brightest channel
// is under 40 (black marker). On dark-background (fluorescence) slides pen is
// not scored.
FilterScores score_tile(const RgbImage& tile, bool dark_background, const FilterOptions& options);

// The first rule the scores fail, or kKept.
FilterRule judge(const FilterScores& scores, const FilterOptions& options);

}  // namespace tessera::stages
