#include "slide/qc_overlay.h"

#include <algorithm>
#include <cmath>

#include "slide/tile_reader.h"

namespace tessera::stages {
namespace {

struct Colour {
  uint8_t r, g, b;
};

void blend(RgbImage& image, int x, int y, Colour c, int alpha256) {
  if (x < 0 || y < 0 || x >= image.width || y >= image.height) return;
  uint8_t* p = image.at(x, y);
  p[0] = uint8_t((p[0] * (256 - alpha256) + c.r * alpha256) >> 8);
  p[1] = uint8_t((p[1] * (256 - alpha256) + c.g * alpha256) >> 8);
  p[2] = uint8_t((p[2] * (256 - alpha256) + c.b * alpha256) >> 8);
}

Colour colour_of(FilterRule rule) {
  switch (rule) {
    case FilterRule::kKept:
      return {0, 200, 0};
    case FilterRule::kBackground:
      return {128, 128, 128};
    case FilterRule::kPen:
      return {0, 64, 255};
    case FilterRule::kBlur:
      return {255, 0, 255};
    case FilterRule::kTissue:
      break;
  }
  return {0, 0, 0};
}

}  // namespace

QcBase make_qc_base(const RgbImage& thumbnail, const TissueMask& mask, int max_side) {
  RgbImage contoured = thumbnail;
  if (mask.width == thumbnail.width && mask.height == thumbnail.height) {
    const auto in = [&](int x, int y) {
      return x >= 0 && y >= 0 && x < mask.width && y < mask.height && mask.inside[size_t(y) * mask.width + x];
    };
    for (int y = 0; y < mask.height; ++y) {
      for (int x = 0; x < mask.width; ++x) {
        // Two pixels wide, so the contour survives the picture being scaled down.
        if (in(x, y) && (!in(x - 1, y) || !in(x + 1, y) || !in(x, y - 1) || !in(x, y + 1))) {
          for (int dy = 0; dy < 2; ++dy) {
            for (int dx = 0; dx < 2; ++dx) blend(contoured, x + dx, y + dy, {255, 140, 0}, 256);
          }
        }
      }
    }
  }
  QcBase base;
  const int longest = std::max(thumbnail.width, thumbnail.height);
  if (longest > max_side) {
    const double factor = double(max_side) / longest;
    base.image = resample_to(contoured, std::max(1, int(std::lround(thumbnail.width * factor))),
                             std::max(1, int(std::lround(thumbnail.height * factor))));
  } else {
    base.image = std::move(contoured);
  }
  base.scale_x = mask.scale_x * double(thumbnail.width) / base.image.width;
  base.scale_y = mask.scale_y * double(thumbnail.height) / base.image.height;
  return base;
}

RgbImage draw_tile_verdicts(const QcBase& base, const std::vector<QcTile>& tiles) {
  RgbImage out = base.image;
  for (const auto& tile : tiles) {
    if (tile.verdict == FilterRule::kTissue) continue;
    const int x0 = int(std::floor(tile.x / base.scale_x));
    const int y0 = int(std::floor(tile.y / base.scale_y));
    const int x1 = std::max(x0 + 1, int(std::ceil((tile.x + tile.extent) / base.scale_x)) - 1);
    const int y1 = std::max(y0 + 1, int(std::ceil((tile.y + tile.extent) / base.scale_y)) - 1);
    const Colour c = colour_of(tile.verdict);
    if (tile.verdict == FilterRule::kKept) {
      for (int x = x0; x <= x1; ++x) blend(out, x, y0, c, 256), blend(out, x, y1, c, 256);
      for (int y = y0; y <= y1; ++y) blend(out, x0, y, c, 256), blend(out, x1, y, c, 256);
    } else {
      for (int y = y0; y <= y1; ++y) {
        for (int x = x0; x <= x1; ++x) blend(out, x, y, c, 110);
      }
    }
  }
  return out;
}

}  // namespace tessera::stages
