#pragma once

#include <map>
#include <string>
#include <vector>

#include "slide/slide_source.h"

namespace tessera::stages {

// Expands files and folders into slides, sorted by path within each folder.
// Folders are scanned recursively for every file OpenSlide recognises, plus
// files with a slide extension that it does not (so a corrupt slide, or one
// of a format tessera does not read, such as VSI or CZI, is reported as
// failed, not silently skipped). A slide's id is its
// file name without the last extension.
//
// DICOM files (by their "DICM" preamble) are grouped by SeriesInstanceUID:
// each series is one slide, whatever folders its files are in. Its id is,
// in order: the series' ContainerIdentifier (the slide's barcode, which
// TCGA's DICOM conversions carry), made safe for a file name; for files found
// in a folder, the name of the folder holding them when it holds no other
// series; for one file given by name, its name without extension; its
// SeriesInstanceUID.
// A DICOM file DCMTK cannot parse is a slide of its own, which fails when
// opened. A path that does not exist throws tessera::Error.
std::vector<SlideSource> discover_slides(const std::vector<std::string>& paths);

// The per-slide µm/px override CSV: a header naming `slide` and `mpp`, then one
// row per slide id. Errors name the file and line.
std::map<std::string, double> read_mpp_overrides(const std::string& path);

}  // namespace tessera::stages
