#pragma once

#include <optional>
#include <string>

#include "slide/slide.h"

namespace tessera::stages {

// Level-0 µm/px and where it came from. Never guessed silently: each source is
// tried in a fixed order and the one used is recorded with the slide.
struct Resolution {
  double mpp_x = 0;
  double mpp_y = 0;
  std::string source;  // "dicom", "openslide", "tiff-resolution", "override-csv", "objective-power", "assumed"
};

struct ResolutionOptions {
  // From a per-slide override CSV (slide,mpp). Default: none.
  std::optional<double> override_mpp;
  // --assume-mpp, the last resort. Default: none.
  std::optional<double> assumed_mpp;
};

// Values outside this range are treated as corrupt metadata.
inline constexpr double kMinPlausibleMpp = 0.1;
inline constexpr double kMaxPlausibleMpp = 20.0;
// The convention used when only an objective power is known: 20x ~ 0.5 µm/px.
inline constexpr double kMppTimesObjective = 10.0;

// Sources, in order: a DICOM series' PixelSpacing (dicom.mpp-x/y);
// openslide.mpp-x/y; tiff.XResolution/YResolution with
// tiff.ResolutionUnit (centimeter or inch); the override CSV;
// openslide.objective-power (an estimate); --assume-mpp. Throws tessera::Error
// naming every source tried when none gives a plausible value.
Resolution resolve_resolution(const PropertyMap& properties, const ResolutionOptions& options);

}  // namespace tessera::stages
