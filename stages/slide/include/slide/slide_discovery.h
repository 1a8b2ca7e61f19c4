#pragma once

#include <map>
#include <string>
#include <vector>

namespace tessera::stages {

struct SlideSource {
  std::string id;    // the file name without its last extension
  std::string path;  // as given, or found under a given folder
};

// Expands files and folders into slides, sorted by path within each folder.
// Folders are scanned recursively for every file OpenSlide recognises, plus
// files with a slide extension that it does not (so a corrupt slide in a
// folder is reported as failed, not silently skipped). A path that does not
// exist throws tessera::Error.
std::vector<SlideSource> discover_slides(const std::vector<std::string>& paths);

// The per-slide µm/px override CSV: a header naming `slide` and `mpp`, then one
// row per slide id. Errors name the file and line.
std::map<std::string, double> read_mpp_overrides(const std::string& path);

}  // namespace tessera::stages
