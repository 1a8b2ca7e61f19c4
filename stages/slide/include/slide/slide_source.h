#pragma once

#include <string>
#include <vector>

namespace tessera::stages {

// One slide of a cohort, as discovery finds it.
struct SlideSource {
  std::string id;    // the store's key for the slide (docs/INGEST.md, "Slide ids")
  std::string path;  // the file; a DICOM series' folder when it holds the series alone, else its base-level file
  std::vector<std::string> files;  // a DICOM series' files; empty for single-file formats
};

}  // namespace tessera::stages
