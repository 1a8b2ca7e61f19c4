#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::stages {

// One pyramid level stored as a grid of compressed tiles (a tiled TIFF
// directory, a DICOM instance's frames), read without OpenSlide. This class
// owns what every such level shares: the region a caller asks for is
// assembled from the tiles it covers; decoded tiles are kept in a small LRU
// cache so that grids misaligned with the file's tiles decode each source
// tile about once; tiles can be decoded at 1/2, 1/4 or 1/8 (kDecodeScales) up
// to largest_decode_scale(). Thread-safe: subclasses decode with per-thread
// handles of their own.
class TiledLevelReader {
 public:
  virtual ~TiledLevelReader();
  TiledLevelReader(const TiledLevelReader&) = delete;
  TiledLevelReader& operator=(const TiledLevelReader&) = delete;

  // A w x h region of the level decoded at 1/scale, in the coordinates of
  // those scaled pixels; pixels outside the level, and tiles the level does
  // not have (a sparse DICOM level), are white, as OpenSlide's transparent
  // pixels are after compositing. Throws, naming the file and the tile, when
  // a tile it covers does not decode cleanly.
  RgbImage read(int64_t x, int64_t y, int64_t w, int64_t h, int scale = 1) const;

  int64_t width() const { return width_; }
  int64_t height() const { return height_; }
  uint32_t tile_width() const { return tile_width_; }
  uint32_t tile_height() const { return tile_height_; }
  // The largest of kDecodeScales the level's tiles can be decoded at.
  int largest_decode_scale() const { return largest_decode_scale_; }

 protected:
  TiledLevelReader(std::string path, int64_t width, int64_t height, uint32_t tile_width, uint32_t tile_height,
                   int largest_decode_scale);
  // Decodes the tile at (column, row) at 1/scale into `pixels`, RGB,
  // ceil(tile_width / scale) x ceil(tile_height / scale), and returns true;
  // returns false when the level has no such tile. Throws tessera::Error
  // naming the file and the tile when its data does not decode cleanly.
  virtual bool decode_tile(uint32_t column, uint32_t row, int scale, std::vector<uint8_t>& pixels) const = 0;

  const std::string& path() const { return path_; }

 private:
  // The decoded tile, or null when the level has none there.
  std::shared_ptr<const std::vector<uint8_t>> tile(uint32_t column, uint32_t row, int scale) const;

  std::string path_;
  int64_t width_;
  int64_t height_;
  uint32_t tile_width_;
  uint32_t tile_height_;
  uint32_t tiles_across_;
  int largest_decode_scale_;

  mutable std::mutex cache_mutex_;
  using CacheKey = uint64_t;         // tile index and scale
  mutable std::list<CacheKey> lru_;  // most recent first
  struct CacheEntry {
    std::shared_ptr<const std::vector<uint8_t>> pixels;  // null: no tile there
    std::list<CacheKey>::iterator position;
  };
  mutable std::unordered_map<CacheKey, CacheEntry> cache_;
  mutable size_t cache_bytes_ = 0;
};

// The largest of kDecodeScales that divides both sides of a tile.
int largest_scale_dividing(uint32_t tile_width, uint32_t tile_height);

}  // namespace tessera::stages
