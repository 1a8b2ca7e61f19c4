#include "slide/tile_filter.h"

#include <algorithm>
#include <vector>

namespace tessera::stages {

const char* to_string(FilterRule rule) {
  switch (rule) {
    case FilterRule::kKept:
      return "kept";
    case FilterRule::kTissue:
      return "tissue";
    case FilterRule::kBackground:
      return "background";
    case FilterRule::kPen:
      return "pen";
    case FilterRule::kBlur:
      return "blur";
  }
  return "unknown";
}

FilterScores score_tile(const RgbImage& tile, bool dark_background, const FilterOptions& options) {
  FilterScores scores;
  const int w = tile.width, h = tile.height;
  const size_t n = size_t(w) * size_t(h);
  if (n == 0) return scores;
  std::vector<int16_t> grey(n);
  size_t background = 0;
  size_t pen = 0;
  const uint8_t* p = tile.pixels.data();
  for (size_t i = 0; i < n; ++i, p += 3) {
    const int r = p[0], g = p[1], b = p[2];
    const int hi = std::max({r, g, b});
    const int lo = std::min({r, g, b});
    grey[i] = int16_t((77 * r + 150 * g + 29 * b) >> 8);
    if (dark_background) {
      background += hi <= options.dark_level;
    } else {
      background += lo >= options.white_level;
      pen += (g > r + 15 && hi - lo > 40) || hi < 40;
    }
  }
  scores.background_fraction = double(background) / double(n);
  scores.pen_fraction = double(pen) / double(n);

  // Variance of the 4-neighbour Laplacian over interior pixels, in exact
  // integer sums (|lap| <= 1020, so a row's squares fit easily in 64 bits).
  if (w >= 3 && h >= 3) {
    int64_t sum = 0;
    int64_t sum_sq = 0;
    for (int y = 1; y < h - 1; ++y) {
      const int16_t* row = grey.data() + size_t(y) * w;
      for (int x = 1; x < w - 1; ++x) {
        const int lap = row[x - 1] + row[x + 1] + row[x - w] + row[x + w] - 4 * row[x];
        sum += lap;
        sum_sq += lap * lap;
      }
    }
    const double count = double(w - 2) * double(h - 2);
    const double mean = double(sum) / count;
    scores.blur_variance = double(sum_sq) / count - mean * mean;
  }
  return scores;
}

FilterRule judge(const FilterScores& s, const FilterOptions& o) {
  if (s.tissue_fraction < o.min_tissue) return FilterRule::kTissue;
  if (s.background_fraction > o.max_background) return FilterRule::kBackground;
  if (s.pen_fraction > o.max_pen) return FilterRule::kPen;
  if (s.blur_variance < o.min_blur_variance) return FilterRule::kBlur;
  return FilterRule::kKept;
}

}  // namespace tessera::stages
