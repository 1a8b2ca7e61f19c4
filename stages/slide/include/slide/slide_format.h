#pragma once

#include <optional>
#include <string>

#include "base/error.h"

namespace tessera::stages {

// File extensions of the formats tessera reads, and of slide formats it
// does not read (picked up from folders all the same, so that each fails
// with its format named).
inline constexpr const char* kReadableExtensions[] = {".svs", ".tif",  ".tiff",    ".ndpi", ".vms", ".vmu",
                                                      ".scn", ".mrxs", ".svslide", ".bif",  ".dcm"};
inline constexpr const char* kUnreadableSlideExtensions[] = {".vsi", ".czi", ".qptiff", ".isyntax", ".btf"};
bool has_extension_in(const std::string& path, const char* const* begin, const char* const* end);

// What tessera reads, for error messages.
inline constexpr const char* kReadableFormats =
    "tessera reads Aperio SVS, tiled pyramidal TIFF, Hamamatsu NDPI/VMS/VMU, Leica SCN, MIRAX MRXS, Philips "
    "TIFF, Sakura SVSLIDE and Ventana BIF (through OpenSlide 3.4), and DICOM VL Whole Slide Microscopy series";

// A file tessera recognises but does not read: a format no reader opens, a
// DICOM series of fluorescence or of a codec it does not decode. What a file
// that cannot be read at all (missing, truncated, corrupt) throws is a plain
// tessera::Error.
class UnsupportedFormatError : public Error {
 public:
  using Error::Error;
};

// Why a file no reader opened cannot be a slide, naming its format when it is
// recognised (a TIFF stored in strips, QPTIFF, OME-TIFF, Olympus VSI, Zeiss
// CZI, Philips iSyntax, a plain JPEG or PNG picture, a DICOM file of another
// kind) and ending with kReadableFormats; std::nullopt when the format is not
// recognised.
std::optional<std::string> unsupported_format_reason(const std::string& path);

}  // namespace tessera::stages
