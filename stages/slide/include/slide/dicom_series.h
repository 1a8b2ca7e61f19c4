#pragma once

#include <optional>
#include <string>
#include <vector>

#include "slide/dicom_instance.h"

namespace tessera::stages {

// The files of one DICOM series (one SeriesInstanceUID): one slide.
struct DicomSeries {
  std::string uid;
  std::vector<DicomInstance> instances;  // sorted by path
};

// Groups instances by SeriesInstanceUID, in the order each series is first met.
std::vector<DicomSeries> group_dicom_series(std::vector<DicomInstance> instances);

// A series arranged as a pyramid: its VOLUME images, one level per total pixel
// matrix size, largest first; LABEL, OVERVIEW and THUMBNAIL images kept out.
struct DicomPyramid {
  // Each level: one instance, or the parts of a concatenation in frame order.
  std::vector<std::vector<DicomInstance>> levels;
  std::optional<DicomInstance> thumbnail;
  std::vector<std::string> warnings;  // read anyway: several optical paths or focal planes
};

// Throws tessera::Error naming the series and its files when it cannot be
// read as a brightfield pyramid: no VOLUME image (only associated images were
// given), its base level missing (only RESAMPLED levels), a concatenation
// with parts missing, or a TILED_FULL level with fewer frames than its tiles;
// UnsupportedFormatError for fluorescence-only or monochrome frames and a
// transfer syntax tessera cannot decode.
DicomPyramid arrange_pyramid(const DicomSeries& series);

// Whether a series holds only associated images (label, overview, thumbnail).
bool holds_only_associated_images(const DicomSeries& series);

}  // namespace tessera::stages
