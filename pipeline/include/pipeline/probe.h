#pragma once

#include <cstdint>
#include <map>
#include <string>
#include <vector>

#include "pipeline/ingest_options.h"
#include "pipeline/progress.h"
#include "slide/slide.h"

namespace tessera::pipeline {

// The probe's thumbnail: smaller than ingest's tissue thumbnail
// (stages::TissueOptions::thumbnail_side), since a probe reads a thousand of
// them and only estimates.
inline constexpr int kProbeThumbnailSide = 512;
// Level 0 this many times finer or coarser than the cohort's median µm/px is
// an unusual magnification (40x in a 20x cohort is 2x).
inline constexpr double kUnusualMppRatio = 1.5;
// The median needs this many slides with a µm/px to mean anything.
inline constexpr size_t kMinSlidesForUsualMpp = 3;

struct ProbeOptions {
  std::vector<std::string> paths;  // files or folders, as ingest's --slides
  // What ingest would be run with: target µm/px or magnification, tile,
  // overlap, level tolerance, resampling, --assume-mpp, the override CSV,
  // the tissue mask and the minimum tissue, the stored JPEG quality.
  IngestOptions ingest;
  int jobs = 0;  // slides probed at once; 0 = one per core
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

// What the probe found wrong with a slide. Every kind but kUnusualMagnification
// and kReaderWarning means ingest would fail the slide.
enum class ProbeProblem {
  kUnreadable,            // missing, empty, truncated, corrupt: the reader's own error
  kUnsupported,           // a format tessera recognises but does not read
  kNoMpp,                 // no usable µm/px from any source
  kDuplicateId,           // another file has the same slide id
  kAssociatedImage,       // a label, overview or thumbnail image given as a slide
  kCannotTile,            // the settings cannot tile it (target finer than level 0, grid too large)
  kUnusualMagnification,  // level 0 far from the cohort's usual µm/px
  kReaderWarning,         // read anyway: several optical paths or focal planes
};
// "unreadable", "unsupported", "no_mpp", "duplicate_id", "associated_image",
// "cannot_tile", "unusual_magnification", "reader_warning".
const char* to_string(ProbeProblem problem);
bool blocks_ingest(ProbeProblem problem);

struct SlideProbe {
  std::string id;
  std::string path;
  std::vector<std::string> files;  // a DICOM series' files
  std::string vendor;              // OpenSlide's vendor or "dicom"; "" when the file did not open
  std::string read_path;           // of the level ingest would read: "direct-tiff", "dicom", "openslide"
  std::vector<stages::SlideLevel> levels;
  double mpp_x = 0, mpp_y = 0;
  std::string mpp_source;
  int level = 0;
  double level_downsample = 1;
  int decode_scale = 1;
  double resample = 1;  // 1: the level's pixels are used unresampled
  double tile_mpp = 0;
  uint32_t grid_cols = 0, grid_rows = 0;
  uint64_t tiles_total = 0;
  double tissue_fraction = 0;    // of the slide, from the thumbnail's mask
  uint64_t tiles_estimated = 0;  // grid cells the mask passes: an upper bound on the tiles kept
  uint64_t bytes_estimated = 0;  // tiles_estimated x the stored size of one tissue tile
  std::vector<std::pair<ProbeProblem, std::string>> problems;
  double seconds = 0;

  bool would_ingest() const;
};

struct ProbeReport {
  std::vector<SlideProbe> slides;
  std::map<std::string, size_t> formats;   // vendor ("" for none) -> slides
  std::map<std::string, size_t> problems;  // problem -> slides with it
  size_t would_ingest = 0;
  uint64_t tiles_estimated = 0;
  uint64_t bytes_estimated = 0;
  double median_mpp = 0;  // the cohort's usual level-0 µm/px; 0 when too few slides have one
  double seconds = 0;
};

// `tessera probe`: opens every slide as ingest would and writes nothing.
// Per slide: one thumbnail (kProbeThumbnailSide) for the tissue estimate and
// one tile, the grid cell with the most tissue, encoded as ingest would store
// it, for the size estimate. A slide that cannot be read is a problem in the
// report, never an exception. Throws tessera::Error only for a path that does
// not exist or an unreadable override CSV.
ProbeReport run_probe(const ProbeOptions& options);

}  // namespace tessera::pipeline
