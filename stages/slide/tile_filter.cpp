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

// Cloned for AVX2, where the compiler vectorises the interleaved RGB loop
// (SSE2 lacks the byte shuffles it needs): about 5x faster per tile, with the
// same integer results on either clone.
[[gnu::target_clones("avx2", "default")]] FilterScores score_tile(const RgbImage& tile, bool dark_background,
                                                                  const FilterOptions& options) {
  FilterScores scores;
  const int w = tile.width, h = tile.height;
  const size_t n = size_t(w) * size_t(h);
  if (n == 0) return scores;
  std::vector<int16_t> grey(n);
  int64_t background = 0;
  int64_t pen = 0;
  // Row by row, branch-free inside a row, so that each loop vectorises.
  for (int y = 0; y < h; ++y) {
    const uint8_t* p = tile.at(0, y);
    int16_t* out = grey.data() + size_t(y) * w;
    int row_background = 0;
    int row_pen = 0;
    if (dark_background) {
      const int dark = options.dark_level;
      for (int x = 0; x < w; ++x) {
        const int r = p[3 * x], g = p[3 * x + 1], b = p[3 * x + 2];
        out[x] = int16_t((77 * r + 150 * g + 29 * b) >> 8);
        row_background += std::max(r, std::max(g, b)) <= dark;
      }
    } else {
      const int white = options.white_level;
      for (int x = 0; x < w; ++x) {
        const int r = p[3 * x], g = p[3 * x + 1], b = p[3 * x + 2];
        const int hi = std::max(r, std::max(g, b));
        const int lo = std::min(r, std::min(g, b));
        out[x] = int16_t((77 * r + 150 * g + 29 * b) >> 8);
        row_background += lo >= white;
        row_pen += ((g > r + 15) & (hi - lo > 40)) | (hi < 40);
      }
    }
    background += row_background;
    pen += row_pen;
  }
  scores.background_fraction = double(background) / double(n);
  scores.pen_fraction = double(pen) / double(n);

  // Variance of the 4-neighbour Laplacian over interior pixels, in exact
  // integer sums: |lap| <= 1020, so the squares of 2,048 pixels fit in 32
  // bits (2,048 * 1020^2 < 2^31), and those pieces add up in 64.
  if (w >= 3 && h >= 3) {
    constexpr int kPiece = 2048;
    int64_t sum = 0;
    int64_t sum_sq = 0;
    for (int y = 1; y < h - 1; ++y) {
      const int16_t* row = grey.data() + size_t(y) * w;
      for (int first = 1; first < w - 1; first += kPiece) {
        const int last = std::min(first + kPiece, w - 1);
        int32_t piece_sum = 0;
        int32_t piece_sq = 0;
        for (int x = first; x < last; ++x) {
          const int32_t lap = row[x - 1] + row[x + 1] + row[x - w] + row[x + w] - 4 * row[x];
          piece_sum += lap;
          piece_sq += lap * lap;
        }
        sum += piece_sum;
        sum_sq += piece_sq;
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
