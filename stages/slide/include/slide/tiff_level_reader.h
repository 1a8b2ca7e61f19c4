#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "slide/tiled_level_reader.h"

typedef struct tiff TIFF;

namespace tessera::stages {

template <typename Handle>
class HandlePool;

// Reads one pyramid level straight from its tiled, JPEG-compressed TIFF
// directory with libtiff (libjpeg-turbo underneath). OpenSlide 3.4 paints
// every tile through cairo/pixman, which costs more than the JPEG decode
// itself (docs/BENCHMARKS.md); for the formats whose levels are plain TIFF
// directories (generic tiled TIFF, Aperio SVS) this path gives the same pixels
// at the decode floor. libtiff handles are pooled, one per reading thread.
// Tiles decoded at 1/2, 1/4 or 1/8 go through JpegTileDecoder, which spares a
// reduced read the resample of full-size pixels. Scale 1 decodes through
// libtiff, byte for byte what OpenSlide gives. A tile that libtiff or libjpeg
// reports an error or a warning on (corrupt or missing compressed data, which
// libjpeg would paint grey) is an error naming the file and the tile.
class TiffLevelReader final : public TiledLevelReader {
 public:
  // The reader for the level of `path` whose size is width x height, or null
  // when that level is not a tiled 8-bit RGB JPEG directory (or the vendor's
  // levels are not plain directories).
  static std::unique_ptr<TiffLevelReader> probe(const std::string& path, const std::string& vendor, int64_t width,
                                                int64_t height);
  ~TiffLevelReader() override;

  int directory() const { return directory_; }

 private:
  TiffLevelReader(const std::string& path, int directory, int64_t width, int64_t height, uint32_t tile_width,
                  uint32_t tile_height);
  struct Handle;
  std::unique_ptr<Handle> open_handle() const;
  bool decode_tile(uint32_t column, uint32_t row, int scale, std::vector<uint8_t>& pixels) const override;

  int directory_ = 0;
  uint32_t tiles_across_ = 0;
  std::unique_ptr<HandlePool<Handle>> handles_;
};

}  // namespace tessera::stages
