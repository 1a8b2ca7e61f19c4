#pragma once

#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <string>
#include <unordered_map>
#include <vector>

#include "imaging/rgb_image.h"

typedef struct tiff TIFF;

namespace tessera::stages {

// Reads regions of one pyramid level straight from its tiled, JPEG-compressed
// TIFF directory with libtiff (libjpeg-turbo underneath). OpenSlide 3.4 paints
// every tile through cairo/pixman, which costs more than the JPEG decode
// itself (docs/BENCHMARKS.md); for the formats whose levels are plain TIFF
// directories (generic tiled TIFF, Aperio SVS) this path gives the same pixels
// at the decode floor. Thread-safe: libtiff handles are pooled, decoded tiles
// are shared through a small LRU cache so that grids misaligned with the
// file's tiles decode each source tile about once. Tiles can also be decoded
// at 1/2, 1/4 or 1/8 of their size (JpegTileDecoder), which spares a reduced
// read the resample of full-size pixels.
class TiffLevelReader {
 public:
  // The reader for the level of `path` whose size is width x height, or null
  // when that level is not a tiled 8-bit RGB JPEG directory (or the vendor's
  // levels are not plain directories).
  static std::unique_ptr<TiffLevelReader> probe(const std::string& path, const std::string& vendor, int64_t width,
                                                int64_t height);
  ~TiffLevelReader();

  // A w x h region of the level decoded at 1/scale (one of kDecodeScales up
  // to largest_decode_scale()), in the coordinates of those scaled pixels;
  // pixels outside the level are white, as OpenSlide's transparent pixels are
  // after compositing. Scale 1 decodes through libtiff, byte for byte what
  // OpenSlide gives. Throws, naming the file and the tile, when a tile it
  // covers does not decode cleanly: libtiff or libjpeg reports an error, or a
  // warning (corrupt or missing compressed data, which libjpeg would paint
  // grey).
  RgbImage read(int64_t x, int64_t y, int64_t w, int64_t h, int scale = 1) const;

  int directory() const { return directory_; }
  uint32_t tile_width() const { return tile_width_; }
  uint32_t tile_height() const { return tile_height_; }
  // The largest of kDecodeScales that divides the tile size.
  int largest_decode_scale() const { return largest_decode_scale_; }

 private:
  TiffLevelReader() = default;
  struct Handle;
  std::unique_ptr<Handle> acquire() const;
  void release(std::unique_ptr<Handle> handle) const;
  std::shared_ptr<const std::vector<uint8_t>> tile(uint32_t index, int scale) const;
  void decode(Handle& handle, uint32_t index, int scale, std::vector<uint8_t>& pixels) const;

  std::string path_;
  int directory_ = 0;
  int64_t width_ = 0;
  int64_t height_ = 0;
  uint32_t tile_width_ = 0;
  uint32_t tile_height_ = 0;
  uint32_t tiles_across_ = 0;
  int largest_decode_scale_ = 1;

  mutable std::mutex pool_mutex_;
  mutable std::vector<std::unique_ptr<Handle>> pool_;

  mutable std::mutex cache_mutex_;
  using CacheKey = uint64_t;         // tile index and scale
  mutable std::list<CacheKey> lru_;  // most recent first
  struct CacheEntry {
    std::shared_ptr<const std::vector<uint8_t>> pixels;
    std::list<CacheKey>::iterator position;
  };
  mutable std::unordered_map<CacheKey, CacheEntry> cache_;
  mutable size_t cache_bytes_ = 0;
};

}  // namespace tessera::stages
