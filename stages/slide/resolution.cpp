#include "slide/resolution.h"

#include <cstdlib>
#include <sstream>

#include "base/error.h"

namespace tessera::stages {
namespace {

std::optional<double> number(const PropertyMap& properties, const std::string& name) {
  const auto it = properties.find(name);
  if (it == properties.end() || it->second.empty()) return std::nullopt;
  char* end = nullptr;
  const double value = std::strtod(it->second.c_str(), &end);
  if (end == it->second.c_str()) return std::nullopt;
  return value;
}

bool plausible(double mpp) { return mpp >= kMinPlausibleMpp && mpp <= kMaxPlausibleMpp; }

std::string format(double v) {
  std::ostringstream out;
  out << v;
  return out.str();
}

}  // namespace

Resolution resolve_resolution(const PropertyMap& properties, const ResolutionOptions& options) {
  std::vector<std::string> tried;

  if (properties.count("dicom.SeriesInstanceUID")) {
    const auto dx = number(properties, "dicom.mpp-x");
    const auto dy = number(properties, "dicom.mpp-y");
    if (dx && dy && plausible(*dx) && plausible(*dy)) return {*dx, *dy, "dicom"};
    tried.push_back(dx && dy ? "DICOM PixelSpacing = " + format(*dx) + "/" + format(*dy) + " um (implausible)"
                             : std::string("DICOM PixelSpacing of the shared functional groups (absent)"));
  }

  const auto mx = number(properties, "openslide.mpp-x");
  const auto my = number(properties, "openslide.mpp-y");
  if (mx && my) {
    if (plausible(*mx) && plausible(*my)) return {*mx, *my, "openslide"};
    tried.push_back("openslide.mpp-x/y = " + format(*mx) + "/" + format(*my) + " (implausible)");
  } else {
    tried.push_back("openslide.mpp-x/y (absent)");
  }

  const auto xres = number(properties, "tiff.XResolution");
  const auto yres = number(properties, "tiff.YResolution");
  const auto unit_it = properties.find("tiff.ResolutionUnit");
  const std::string unit = unit_it == properties.end() ? "" : unit_it->second;
  if (xres && yres && *xres > 0 && *yres > 0 && (unit == "centimeter" || unit == "inch")) {
    const double microns_per_unit = unit == "centimeter" ? 1e4 : 25400.0;
    const double rx = microns_per_unit / *xres;
    const double ry = microns_per_unit / *yres;
    if (plausible(rx) && plausible(ry)) return {rx, ry, "tiff-resolution"};
    tried.push_back("tiff resolution tags = " + format(rx) + "/" + format(ry) + " um/px (implausible)");
  } else {
    tried.push_back("tiff.XResolution/YResolution in centimeter or inch (absent)");
  }

  if (options.override_mpp) {
    if (plausible(*options.override_mpp)) return {*options.override_mpp, *options.override_mpp, "override-csv"};
    tried.push_back("override CSV = " + format(*options.override_mpp) + " (implausible)");
  } else {
    tried.push_back("override CSV (no row)");
  }

  auto power = number(properties, "openslide.objective-power");
  if (!power) power = number(properties, "dicom.ObjectiveLensPower");
  if (power && *power > 0) {
    const double mpp = kMppTimesObjective / *power;
    if (plausible(mpp)) return {mpp, mpp, "objective-power"};
    tried.push_back("openslide.objective-power = " + format(*power) + " (implausible)");
  } else {
    tried.push_back("openslide.objective-power (absent)");
  }

  if (options.assumed_mpp) {
    if (plausible(*options.assumed_mpp)) return {*options.assumed_mpp, *options.assumed_mpp, "assumed"};
    tried.push_back("--assume-mpp = " + format(*options.assumed_mpp) + " (implausible)");
  } else {
    tried.push_back("--assume-mpp (not given)");
  }

  std::string message = "no usable microns-per-pixel; tried: ";
  for (size_t i = 0; i < tried.size(); ++i) message += (i ? "; " : "") + tried[i];
  message += ". Pass --assume-mpp or an override CSV if you know the scanner's resolution";
  throw Error(message);
}

}  // namespace tessera::stages
