#include "imaging/jpeg_codec.h"

#include <turbojpeg.h>

#include <memory>

#include "base/error.h"

namespace tessera::stages {
namespace {

struct HandleCloser {
  void operator()(void* handle) const { tjDestroy(handle); }
};
using Handle = std::unique_ptr<void, HandleCloser>;

void* compressor() {
  thread_local Handle handle(tjInitCompress());
  if (!handle) throw Error("cannot start libjpeg-turbo's compressor");
  return handle.get();
}

void* decompressor() {
  thread_local Handle handle(tjInitDecompress());
  if (!handle) throw Error("cannot start libjpeg-turbo's decompressor");
  return handle.get();
}

}  // namespace

std::string encode_jpeg(const RgbImage& image, const JpegOptions& options) {
  void* handle = compressor();
  unsigned char* buffer = nullptr;
  unsigned long size = 0;
  if (tjCompress2(handle, image.pixels.data(), image.width, 0, image.height, TJPF_RGB, &buffer, &size,
                  options.full_chroma ? TJSAMP_444 : TJSAMP_420, options.quality,
                  options.fast_dct ? TJFLAG_FASTDCT : TJFLAG_ACCURATEDCT) != 0) {
    const std::string message = tjGetErrorStr2(handle);
    tjFree(buffer);
    throw Error("JPEG encode failed: " + message);
  }
  std::string out(reinterpret_cast<const char*>(buffer), size);
  tjFree(buffer);
  return out;
}

namespace {

std::pair<int, int> jpeg_size(void* handle, std::string_view bytes) {
  int width = 0, height = 0, subsampling = 0, colorspace = 0;
  if (tjDecompressHeader3(handle, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), &width, &height,
                          &subsampling, &colorspace) != 0) {
    throw Error(std::string("JPEG header unreadable: ") + tjGetErrorStr2(handle));
  }
  return {width, height};
}

void decompress(void* handle, std::string_view bytes, uint8_t* out, int width, int height) {
  if (tjDecompress2(handle, reinterpret_cast<const unsigned char*>(bytes.data()), bytes.size(), out, width, 0, height,
                    TJPF_RGB, TJFLAG_ACCURATEDCT) != 0) {
    throw Error(std::string("JPEG decode failed: ") + tjGetErrorStr2(handle));
  }
}

}  // namespace

RgbImage decode_jpeg(std::string_view bytes) {
  void* handle = decompressor();
  const auto [width, height] = jpeg_size(handle, bytes);
  RgbImage out(width, height);
  decompress(handle, bytes, out.pixels.data(), width, height);
  return out;
}

void decode_jpeg_into(std::string_view bytes, uint8_t* out, int width, int height) {
  void* handle = decompressor();
  const auto [w, h] = jpeg_size(handle, bytes);
  if (w != width || h != height) {
    throw Error("JPEG is " + std::to_string(w) + "x" + std::to_string(h) + ", expected " + std::to_string(width) + "x" +
                std::to_string(height));
  }
  decompress(handle, bytes, out, width, height);
}

}  // namespace tessera::stages
