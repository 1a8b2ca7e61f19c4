#include "slide/jpeg2000_decoder.h"

#include <openjpeg.h>

#include <algorithm>
#include <cstring>
#include <memory>

namespace tessera::stages {
namespace {

struct MemoryStream {
  const uint8_t* data;
  size_t size;
  size_t position = 0;
};

OPJ_SIZE_T read_stream(void* buffer, OPJ_SIZE_T bytes, void* user) {
  auto& s = *static_cast<MemoryStream*>(user);
  if (s.position >= s.size) return OPJ_SIZE_T(-1);
  const size_t n = std::min(size_t(bytes), s.size - s.position);
  std::memcpy(buffer, s.data + s.position, n);
  s.position += n;
  return n;
}

OPJ_OFF_T skip_stream(OPJ_OFF_T bytes, void* user) {
  auto& s = *static_cast<MemoryStream*>(user);
  const auto target = std::clamp<int64_t>(int64_t(s.position) + bytes, 0, int64_t(s.size));
  const OPJ_OFF_T skipped = OPJ_OFF_T(target - int64_t(s.position));
  s.position = size_t(target);
  return skipped;
}

OPJ_BOOL seek_stream(OPJ_OFF_T offset, void* user) {
  auto& s = *static_cast<MemoryStream*>(user);
  if (offset < 0 || size_t(offset) > s.size) return OPJ_FALSE;
  s.position = size_t(offset);
  return OPJ_TRUE;
}

void keep_first_error(const char* message, void* user) {
  auto& error = *static_cast<std::string*>(user);
  if (error.empty()) {
    error = message;
    while (!error.empty() && error.back() == '\n') error.pop_back();
  }
}

void ignore(const char*, void*) {}

struct CodecDeleter {
  void operator()(opj_codec_t* codec) const { opj_destroy_codec(codec); }
};
struct StreamDeleter {
  void operator()(opj_stream_t* stream) const { opj_stream_destroy(stream); }
};
struct ImageDeleter {
  void operator()(opj_image_t* image) const { opj_image_destroy(image); }
};

int reductions(int scale) {
  int r = 0;
  while ((1 << r) < scale) ++r;
  return r;
}

}  // namespace

bool decode_jpeg2000(const uint8_t* data, size_t size, int scale, uint8_t* out, int width, int height,
                     std::string& error) {
  error.clear();
  // A JP2 file starts with its signature box; DICOM frames are usually bare codestreams.
  static constexpr uint8_t kJp2Signature[] = {0x00, 0x00, 0x00, 0x0c, 0x6a, 0x50, 0x20, 0x20};
  const bool jp2 = size >= sizeof kJp2Signature && std::memcmp(data, kJp2Signature, sizeof kJp2Signature) == 0;
  std::unique_ptr<opj_codec_t, CodecDeleter> codec(opj_create_decompress(jp2 ? OPJ_CODEC_JP2 : OPJ_CODEC_J2K));
  opj_set_error_handler(codec.get(), keep_first_error, &error);
  opj_set_warning_handler(codec.get(), ignore, nullptr);
  opj_set_info_handler(codec.get(), ignore, nullptr);
  opj_dparameters_t parameters;
  opj_set_default_decoder_parameters(&parameters);
  parameters.cp_reduce = OPJ_UINT32(reductions(scale));
  if (!opj_setup_decoder(codec.get(), &parameters)) {
    if (error.empty()) error = "OpenJPEG refused the decoder setup";
    return false;
  }
  MemoryStream memory{data, size};
  std::unique_ptr<opj_stream_t, StreamDeleter> stream(opj_stream_create(OPJ_J2K_STREAM_CHUNK_SIZE, OPJ_TRUE));
  opj_stream_set_user_data(stream.get(), &memory, nullptr);
  opj_stream_set_user_data_length(stream.get(), size);
  opj_stream_set_read_function(stream.get(), read_stream);
  opj_stream_set_skip_function(stream.get(), skip_stream);
  opj_stream_set_seek_function(stream.get(), seek_stream);
  opj_image_t* raw = nullptr;
  if (!opj_read_header(stream.get(), codec.get(), &raw)) {
    if (error.empty()) error = "cannot read the codestream header";
    return false;
  }
  std::unique_ptr<opj_image_t, ImageDeleter> image(raw);
  if (!opj_decode(codec.get(), stream.get(), image.get()) || !opj_end_decompress(codec.get(), stream.get())) {
    if (error.empty()) error = "the codestream does not decode";
    return false;
  }
  if (image->numcomps != 3) {
    error = std::to_string(image->numcomps) + " components, expected 3";
    return false;
  }
  for (int c = 0; c < 3; ++c) {
    const opj_image_comp_t& comp = image->comps[c];
    if (comp.prec != 8 || comp.sgnd || comp.dx != 1 || comp.dy != 1 || !comp.data) {
      error = "component " + std::to_string(c) + " is not full-resolution unsigned 8-bit";
      return false;
    }
    if (int(comp.w) != width || int(comp.h) != height) {
      error = "decodes to " + std::to_string(comp.w) + "x" + std::to_string(comp.h) + " at 1/" + std::to_string(scale) +
              ", expected " + std::to_string(width) + "x" + std::to_string(height);
      return false;
    }
  }
  const size_t pixels = size_t(width) * size_t(height);
  for (int c = 0; c < 3; ++c) {
    const OPJ_INT32* src = image->comps[c].data;
    for (size_t i = 0; i < pixels; ++i) out[i * 3 + size_t(c)] = uint8_t(std::clamp<OPJ_INT32>(src[i], 0, 255));
  }
  return true;
}

}  // namespace tessera::stages
