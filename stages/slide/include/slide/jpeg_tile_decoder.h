#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <vector>

typedef struct tiff TIFF;

namespace tessera::stages {

// Decodes the JPEG-compressed tiles of one TIFF directory with libjpeg, at
// full size or at 1/2, 1/4 or 1/8 of it. libjpeg-turbo scales in the inverse
// DCT itself (entropy decoding, the larger part at high quality, stays), so
// the reduced pixels come without a full-size image or a resample; libtiff's
// JPEG codec offers no scaling, hence this second decoder for the same tiles. Colour is handled as libtiff does: YCbCr
// tiles are converted to RGB, RGB tiles are passed through. One decoder per thread.
class JpegTileDecoder {
 public:
  // Where the colour space of a tile's components is read from.
  enum class Colour {
    kYCbCr,  // the container says YCbCr, whatever the stream's markers say (TIFF)
    kRgb,    // the container says RGB, whatever the markers say (TIFF)
    // A JFIF or Adobe marker in the stream decides, as the JPEG standards
    // say; without one, the container's photometric interpretation
    // (`ycbcr`). DICOM converters label JFIF frames RGB.
    kMarkersElseYCbCr,
    kMarkersElseRgb,
  };
  // `tables`: the directory's JPEGTables (abbreviated table stream), or empty
  // when every tile carries its own.
  JpegTileDecoder(std::vector<uint8_t> tables, Colour colour);
  // The decoder of the current directory of `tiff`: its JPEGTables and
  // photometric interpretation.
  static std::unique_ptr<JpegTileDecoder> for_directory(TIFF* tiff);
  ~JpegTileDecoder();
  JpegTileDecoder(const JpegTileDecoder&) = delete;
  JpegTileDecoder& operator=(const JpegTileDecoder&) = delete;

  // Decodes one tile's compressed bytes at 1/scale (scale 1, 2, 4 or 8) into
  // `out`, RGB, `width` x `height` pixels: the tile's full size divided by
  // scale, rounded up. Returns false with `error` set to libjpeg's message
  // when the data is corrupt, including what libjpeg only warns about
  // (corrupt or missing entropy-coded data, which it would paint grey).
  bool decode(const uint8_t* data, size_t size, int scale, uint8_t* out, int width, int height, std::string& error);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tessera::stages
