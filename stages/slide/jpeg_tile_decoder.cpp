#include "slide/jpeg_tile_decoder.h"

#include <cstdio>
// After cstdio: jpeglib.h uses FILE and size_t without declaring them.
#include <jpeglib.h>
#include <tiffio.h>

#include <csetjmp>

namespace tessera::stages {
namespace {

// libjpeg reports through callbacks; an error must not return to it, so it
// jumps back to decode(), as libjpeg's own example does. Warnings jump too:
// libjpeg would carry on and paint what it could not decode.
struct ErrorManager {
  jpeg_error_mgr base;
  std::jmp_buf jump;
  char message[JMSG_LENGTH_MAX];
};

[[noreturn]] void jump_back(j_common_ptr cinfo) {
  auto* manager = reinterpret_cast<ErrorManager*>(cinfo->err);
  (*cinfo->err->format_message)(cinfo, manager->message);
  std::longjmp(manager->jump, 1);
}

void on_message(j_common_ptr cinfo, int level) {
  if (level < 0) jump_back(cinfo);  // a warning; levels >= 0 are trace messages
}

}  // namespace

struct JpegTileDecoder::State {
  jpeg_decompress_struct cinfo{};
  ErrorManager errors{};
  std::vector<uint8_t> tables;
  Colour colour = Colour::kYCbCr;
};

JpegTileDecoder::JpegTileDecoder(std::vector<uint8_t> tables, Colour colour) : state_(std::make_unique<State>()) {
  state_->tables = std::move(tables);
  state_->colour = colour;
  state_->cinfo.err = jpeg_std_error(&state_->errors.base);
  state_->errors.base.error_exit = jump_back;
  state_->errors.base.emit_message = on_message;
  jpeg_create_decompress(&state_->cinfo);
}

std::unique_ptr<JpegTileDecoder> JpegTileDecoder::for_directory(TIFF* tiff) {
  uint32_t count = 0;
  const uint8_t* data = nullptr;
  std::vector<uint8_t> tables;
  if (TIFFGetField(tiff, TIFFTAG_JPEGTABLES, &count, &data) && data) tables.assign(data, data + count);
  uint16_t photometric = 0;
  TIFFGetFieldDefaulted(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
  return std::make_unique<JpegTileDecoder>(std::move(tables),
                                           photometric == PHOTOMETRIC_YCBCR ? Colour::kYCbCr : Colour::kRgb);
}

JpegTileDecoder::~JpegTileDecoder() { jpeg_destroy_decompress(&state_->cinfo); }

bool JpegTileDecoder::decode(const uint8_t* data, size_t size, int scale, uint8_t* out, int width, int height,
                             std::string& error) {
  State& s = *state_;
  jpeg_decompress_struct& cinfo = s.cinfo;
  if (setjmp(s.errors.jump)) {
    jpeg_abort_decompress(&cinfo);
    error = s.errors.message;
    return false;
  }
  if (!s.tables.empty()) {
    jpeg_mem_src(&cinfo, s.tables.data(), static_cast<unsigned long>(s.tables.size()));
    jpeg_read_header(&cinfo, FALSE);
  }
  jpeg_mem_src(&cinfo, data, static_cast<unsigned long>(size));
  jpeg_read_header(&cinfo, TRUE);
  // TIFF: as libtiff's codec, the tag, not the stream's markers, says whether
  // the components are YCbCr.
  const bool markers = cinfo.saw_JFIF_marker || cinfo.saw_Adobe_marker;
  switch (s.colour) {
    case Colour::kYCbCr:
      cinfo.jpeg_color_space = JCS_YCbCr;
      break;
    case Colour::kRgb:
      cinfo.jpeg_color_space = JCS_RGB;
      break;
    case Colour::kMarkersElseYCbCr:
      if (!markers) cinfo.jpeg_color_space = JCS_YCbCr;
      break;
    case Colour::kMarkersElseRgb:
      if (!markers) cinfo.jpeg_color_space = JCS_RGB;
      break;
  }
  cinfo.out_color_space = JCS_RGB;
  cinfo.scale_num = 1;
  cinfo.scale_denom = static_cast<unsigned>(scale);
  jpeg_start_decompress(&cinfo);
  if (int(cinfo.output_width) != width || int(cinfo.output_height) != height || cinfo.output_components != 3) {
    const std::string got = std::to_string(cinfo.output_width) + "x" + std::to_string(cinfo.output_height);
    jpeg_abort_decompress(&cinfo);
    error = "decodes to " + got + " at 1/" + std::to_string(scale) + ", expected " + std::to_string(width) + "x" +
            std::to_string(height);
    return false;
  }
  while (cinfo.output_scanline < cinfo.output_height) {
    JSAMPROW row = out + size_t(cinfo.output_scanline) * size_t(width) * 3;
    jpeg_read_scanlines(&cinfo, &row, 1);
  }
  jpeg_finish_decompress(&cinfo);
  return true;
}

}  // namespace tessera::stages
