#pragma once

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::stages {

// Interleaved 8-bit RGB, row-major, no padding: the currency between stages.
struct RgbImage {
  int width = 0;
  int height = 0;
  std::vector<uint8_t> pixels;  // width * height * 3

  RgbImage() = default;
  RgbImage(int w, int h, uint8_t fill = 0) : width(w), height(h), pixels(size_t(w) * size_t(h) * 3, fill) {}

  uint8_t* at(int x, int y) { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
  const uint8_t* at(int x, int y) const { return pixels.data() + (size_t(y) * size_t(width) + size_t(x)) * 3; }
};

}  // namespace tessera::stages
