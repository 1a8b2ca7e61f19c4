#include "slide/slide_format.h"

#include <tiffio.h>

#include <algorithm>
#include <array>
#include <cstring>
#include <filesystem>
#include <fstream>

#include "base/ascii_case.h"

namespace tessera::stages {
namespace {

std::string extension_of(const std::string& path) {
  return ascii_lowercase(std::filesystem::path(path).extension().string());
}

bool starts_with(const std::array<unsigned char, 16>& head, size_t got, const char* magic, size_t size) {
  return got >= size && std::memcmp(head.data(), magic, size) == 0;
}

int silent_handler(TIFF*, void*, const char*, const char*, va_list) { return 1; }

// What a TIFF that OpenSlide refused is; nullopt when it is a tiled TIFF of no known kind.
std::optional<std::string> tiff_kind(const std::string& path) {
  TIFFOpenOptions* options = TIFFOpenOptionsAlloc();
  TIFFOpenOptionsSetErrorHandlerExtR(options, silent_handler, nullptr);
  TIFFOpenOptionsSetWarningHandlerExtR(options, silent_handler, nullptr);
  TIFF* tiff = TIFFOpenExt(path.c_str(), "rm", options);
  TIFFOpenOptionsFree(options);
  if (!tiff) return std::string("a TIFF file that libtiff cannot read (damaged or truncated)");
  const char* description = nullptr;
  std::string text;
  if (TIFFGetField(tiff, TIFFTAG_IMAGEDESCRIPTION, &description) && description) text = description;
  const bool tiled = TIFFIsTiled(tiff);
  TIFFClose(tiff);
  if (text.find("PerkinElmer-QPI") != std::string::npos || extension_of(path) == ".qptiff") {
    return std::string("an Akoya (PerkinElmer) QPTIFF multiplex image, which OpenSlide 3.4 does not read");
  }
  if (text.find("<OME") != std::string::npos) {
    return std::string("an OME-TIFF, which OpenSlide 3.4 does not read; convert it to a tiled pyramidal TIFF");
  }
  if (!tiled) {
    return std::string(
        "a TIFF stored in strips, not tiles (a plain image, not a slide pyramid); convert it with "
        "`vips tiffsave IN OUT.tif --tile --pyramid --compression jpeg`");
  }
  return std::nullopt;
}

}  // namespace

bool has_extension_in(const std::string& path, const char* const* begin, const char* const* end) {
  const std::string ext = extension_of(path);
  return std::any_of(begin, end, [&](const char* e) { return ext == e; });
}

std::optional<std::string> unsupported_format_reason(const std::string& path) {
  std::array<unsigned char, 16> head{};
  std::ifstream in(path, std::ios::binary);
  in.read(reinterpret_cast<char*>(head.data()), head.size());
  const size_t got = size_t(in.gcount());
  const std::string ext = extension_of(path);
  std::optional<std::string> kind;
  if (starts_with(head, got, "II*\0", 4) || starts_with(head, got, "MM\0*", 4) || starts_with(head, got, "II+\0", 4) ||
      starts_with(head, got, "MM\0+", 4)) {
    kind = tiff_kind(path);
  } else if (ext == ".vsi") {
    kind =
        "an Olympus/Evident VSI (cellSens) file, whose pixels are in .ets files beside it; OpenSlide 3.4 does not "
        "read it";
  } else if (starts_with(head, got, "ZISRAWFILE", 10)) {
    kind = "a Zeiss CZI file, which OpenSlide 3.4 does not read";
  } else if (ext == ".isyntax") {
    kind = "a Philips iSyntax file, which OpenSlide 3.4 does not read; export it as Philips TIFF";
  } else if (starts_with(head, got, "\xff\xd8\xff", 3)) {
    kind = "a plain JPEG picture, not a slide pyramid";
  } else if (starts_with(head, got, "\x89PNG", 4)) {
    kind = "a plain PNG picture, not a slide pyramid";
  }
  if (!kind) return std::nullopt;
  return *kind + ". " + kReadableFormats;
}

}  // namespace tessera::stages
