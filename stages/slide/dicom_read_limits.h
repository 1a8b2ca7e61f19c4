#pragma once

#include <cstdint>

namespace tessera::stages {

// Values longer than this stay in the file when DCMTK parses a DICOM file
// (frames, pixel data); they are read on demand, one frame at a time.
inline constexpr uint32_t kDicomMaxLoadedValue = 4096;

}  // namespace tessera::stages
