#pragma once

#include <cstddef>
#include <cstdint>
#include <string>

namespace tessera::stages {

// Decodes one JPEG 2000 (or High-Throughput JPEG 2000) codestream held in
// memory with OpenJPEG, at full size or at 1/2, 1/4 or 1/8 by discarding
// resolution levels (the wavelet's own reduction, as JPEG's scaled IDCT is
// for JPEG). Into `out`: RGB, `width` x `height` pixels, the image's size
// divided by scale, rounded up. The codestream's own colour transform is
// undone by OpenJPEG. Returns false with `error` set to OpenJPEG's message when
// the stream is corrupt or not 3 x 8-bit components.
bool decode_jpeg2000(const uint8_t* data, size_t size, int scale, uint8_t* out, int width, int height,
                     std::string& error);

}  // namespace tessera::stages
