#include "slide/tiled_level_reader.h"

#include <algorithm>
#include <cstring>

#include "base/error.h"
#include "slide/resample_method.h"

namespace tessera::stages {
namespace {

// Decoded tiles kept for neighbouring reads: 32 MiB, like OpenSlide's cache.
constexpr size_t kCacheBytes = size_t{32} << 20;

}  // namespace

int largest_scale_dividing(uint32_t tile_width, uint32_t tile_height) {
  int largest = 1;
  for (const int scale : kDecodeScales) {
    if (tile_width % uint32_t(scale) == 0 && tile_height % uint32_t(scale) == 0) largest = scale;
  }
  return largest;
}

TiledLevelReader::TiledLevelReader(std::string path, int64_t width, int64_t height, uint32_t tile_width,
                                   uint32_t tile_height, int largest_decode_scale)
    : path_(std::move(path)),
      width_(width),
      height_(height),
      tile_width_(tile_width),
      tile_height_(tile_height),
      tiles_across_(uint32_t((width + tile_width - 1) / tile_width)),
      largest_decode_scale_(largest_decode_scale) {}

TiledLevelReader::~TiledLevelReader() = default;

std::shared_ptr<const std::vector<uint8_t>> TiledLevelReader::tile(uint32_t column, uint32_t row, int scale) const {
  const CacheKey key = (CacheKey{row} * tiles_across_ + column) << 4 | CacheKey(scale);
  {
    std::lock_guard lock(cache_mutex_);
    if (const auto it = cache_.find(key); it != cache_.end()) {
      lru_.splice(lru_.begin(), lru_, it->second.position);
      return it->second.pixels;
    }
  }
  auto pixels = std::make_shared<std::vector<uint8_t>>(size_t((tile_width_ + uint32_t(scale) - 1) / uint32_t(scale)) *
                                                       ((tile_height_ + uint32_t(scale) - 1) / uint32_t(scale)) * 3);
  std::shared_ptr<const std::vector<uint8_t>> result;
  if (decode_tile(column, row, scale, *pixels)) result = std::move(pixels);
  std::lock_guard lock(cache_mutex_);
  if (cache_.count(key) == 0) {
    lru_.push_front(key);
    cache_[key] = CacheEntry{result, lru_.begin()};
    cache_bytes_ += result ? result->size() : 0;
    while (cache_bytes_ > kCacheBytes && cache_.size() > 1) {
      const auto oldest = cache_.find(lru_.back());
      cache_bytes_ -= oldest->second.pixels ? oldest->second.pixels->size() : 0;
      cache_.erase(oldest);
      lru_.pop_back();
    }
  }
  return result;
}

RgbImage TiledLevelReader::read(int64_t x, int64_t y, int64_t w, int64_t h, int scale) const {
  if (scale < 1 || scale > largest_decode_scale_ || largest_decode_scale_ % scale != 0) {
    throw Error(path_ + ": a level of " + std::to_string(width_) + "x" + std::to_string(height_) +
                " px cannot be decoded at 1/" + std::to_string(scale));
  }
  RgbImage out(int(w), int(h), 255);
  const int64_t width = (width_ + scale - 1) / scale, height = (height_ + scale - 1) / scale;
  const int64_t x0 = std::max<int64_t>(x, 0), y0 = std::max<int64_t>(y, 0);
  const int64_t x1 = std::min(x + w, width), y1 = std::min(y + h, height);
  if (x0 >= x1 || y0 >= y1) return out;
  const int64_t tw = tile_width_ / uint32_t(scale), th = tile_height_ / uint32_t(scale);
  for (int64_t ty = y0 / th; ty <= (y1 - 1) / th; ++ty) {
    for (int64_t tx = x0 / tw; tx <= (x1 - 1) / tw; ++tx) {
      const auto pixels = tile(uint32_t(tx), uint32_t(ty), scale);
      if (!pixels) continue;
      // Intersection of the tile with the requested region, in level pixels.
      const int64_t ix0 = std::max(x0, tx * tw), ix1 = std::min(x1, (tx + 1) * tw);
      const int64_t iy0 = std::max(y0, ty * th), iy1 = std::min(y1, (ty + 1) * th);
      const size_t bytes = size_t(ix1 - ix0) * 3;
      for (int64_t row = iy0; row < iy1; ++row) {
        const uint8_t* src = pixels->data() + (size_t(row - ty * th) * size_t(tw) + size_t(ix0 - tx * tw)) * 3;
        std::memcpy(out.at(int(ix0 - x), int(row - y)), src, bytes);
      }
    }
  }
  return out;
}

}  // namespace tessera::stages
