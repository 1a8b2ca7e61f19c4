#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"

namespace tessera::examples {

using stages::RgbImage;

// A DICOM VL Whole Slide Microscopy series written from an RGB image, for the
// tests, the benchmarks and the demo: each level is the image reduced by its
// downsample, cut into frames, one file per level (or per concatenation
// part). The choices below make the series that real converters and broken
// transfers produce.
struct DicomSeriesSpec {
  enum class Codec { kJpegBaseline, kJpeg2000 };
  Codec codec = Codec::kJpegBaseline;
  uint32_t frame = 256;                   // frame side in pixels
  std::vector<int> downsamples = {1, 4};  // one level each, the first is the base
  double mpp = 0.5;                       // level 0; written as PixelSpacing
  bool write_spacing = true;
  int jpeg_quality = 90;  // JPEG frames are 4:2:0 (YBR_FULL_422), as most converters write them
  // TILED_SPARSE: only frames with something other than white glass are
  // written, each with its position; else TILED_FULL.
  bool sparse = false;
  // The base level split over this many files of one concatenation.
  int base_parts = 1;
  // A THUMBNAIL image of at most this side (0: none), and a LABEL image.
  int thumbnail_side = 0;
  bool label = false;
  std::string container_id;  // empty: not written
  std::string series_uid;    // empty: a new UID
  // Written into the base level's file(s) and nowhere else: the last frame
  // left out of a TILED_FULL level, as a broken transfer leaves it.
  bool drop_last_frame = false;
  // Every optical path epifluorescence, monochrome frames.
  bool fluorescence = false;
};

// Writes the series into `folder` (created) as level-N[-part-P].dcm,
// thumbnail.dcm and label.dcm; returns the files written, base level first.
// Throws tessera::Error naming the file DCMTK or OpenJPEG could not write.
std::vector<std::string> write_dicom_series(const RgbImage& image, const std::string& folder,
                                            const DicomSeriesSpec& spec);

// The level-0 pixels of a slide file that libvips opens (the synthetic TIFF).
RgbImage read_level0(const std::string& path);

}  // namespace tessera::examples
