#include "slide/slide.h"

#include <fcntl.h>
#include <openslide.h>
#include <unistd.h>
#include <xxhash.h>

#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/error.h"
#include "slide/dicom_level_reader.h"
#include "slide/dicom_series.h"
#include "slide/slide_format.h"
#include "slide/tiff_level_reader.h"

namespace tessera::stages {
namespace {

std::string vendor_or_empty(const PropertyMap& properties) {
  const auto it = properties.find("openslide.vendor");
  return it == properties.end() ? std::string() : it->second;
}

// Why a file cannot be a slide before any format is tried: it is gone, cannot
// be read, is not a file, or is empty. std::nullopt when it can be read.
std::optional<std::string> unreadable_because(const std::string& path) {
  std::error_code error;
  const auto status = std::filesystem::status(path, error);
  if (status.type() == std::filesystem::file_type::not_found) return std::string("the file is missing");
  if (error) return std::string("cannot read the file: ") + error.message();
  if (!std::filesystem::is_regular_file(status)) return std::string("not a regular file");
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return std::string("cannot read the file: ") + std::strerror(errno);
  ::close(fd);
  if (std::filesystem::file_size(path, error) == 0 && !error) return std::string("the file is empty (0 bytes)");
  return std::nullopt;
}

}  // namespace

const char* to_string(ReadPath path) {
  switch (path) {
    case ReadPath::kOpenSlide:
      return "openslide";
    case ReadPath::kDirectTiff:
      return "direct-tiff";
    case ReadPath::kDicom:
      return "dicom";
  }
  return "openslide";
}

std::shared_ptr<Slide> Slide::open(const std::string& path, bool direct_tiff) {
  if (const auto reason = unreadable_because(path)) throw Error(path + ": " + *reason);
  if (is_dicom_file(path)) return open_dicom(path, {path});
  return open_with_openslide(path, direct_tiff);
}

std::shared_ptr<Slide> Slide::open(const SlideSource& source) {
  if (source.files.empty()) return open(source.path);
  for (const auto& file : source.files) {
    if (const auto reason = unreadable_because(file)) throw Error(file + ": " + *reason);
  }
  return open_dicom(source.path, source.files);
}

std::shared_ptr<Slide> Slide::open_dicom(const std::string& path, const std::vector<std::string>& files) {
  std::vector<DicomInstance> instances;
  for (const auto& file : files) instances.push_back(read_dicom_instance(file));
  auto series = group_dicom_series(std::move(instances));
  if (series.size() != 1) {
    throw Error(path + ": holds " + std::to_string(series.size()) + " DICOM series; each series is a slide of its own");
  }
  const DicomPyramid pyramid = arrange_pyramid(series.front());
  auto slide = std::shared_ptr<Slide>(new Slide());
  slide->path_ = path;
  slide->format_ = "dicom";
  slide->warnings_ = pyramid.warnings;
  const DicomInstance& base = pyramid.levels.front().front();
  auto& p = slide->properties_;
  p["dicom.SeriesInstanceUID"] = base.series_uid;
  p["dicom.ContainerIdentifier"] = base.container_id;
  p["dicom.Manufacturer"] = base.manufacturer;
  p["dicom.ManufacturerModelName"] = base.model;
  p["dicom.TransferSyntax"] = transfer_syntax_name(base.transfer_syntax);
  p["dicom.DimensionOrganizationType"] = base.sparse ? "TILED_SPARSE" : "TILED_FULL";
  const auto number = [](double value) {
    char text[32];
    std::snprintf(text, sizeof text, "%.10g", value);
    return std::string(text);
  };
  if (base.spacing_row_mm > 0 && base.spacing_column_mm > 0) {
    // PixelSpacing is row spacing (vertical), then column spacing, in mm.
    p["dicom.mpp-x"] = number(base.spacing_column_mm * 1000);
    p["dicom.mpp-y"] = number(base.spacing_row_mm * 1000);
  }
  if (base.objective_power > 0) p["dicom.ObjectiveLensPower"] = number(base.objective_power);
  std::string identity;  // what the quickhash names: every instance of the pyramid and its frame count
  for (const auto& level : pyramid.levels) {
    const DicomInstance& first = level.front();
    slide->levels_.push_back(
        {first.total_columns, first.total_rows, double(base.total_columns) / double(first.total_columns)});
    for (const auto& part : level) identity += part.sop_instance_uid + '/' + std::to_string(part.frames) + ';';
    slide->direct_.push_back(std::make_unique<DicomLevelReader>(level));
  }
  char quickhash[17];
  std::snprintf(quickhash, sizeof quickhash, "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(identity.data(), identity.size())));
  p["dicom.quickhash"] = quickhash;
  if (pyramid.thumbnail) slide->thumbnail_ = std::make_unique<DicomLevelReader>(std::vector{*pyramid.thumbnail});
  return slide;
}

std::shared_ptr<Slide> Slide::open_with_openslide(const std::string& path, bool direct_tiff) {
  const char* vendor = openslide_detect_vendor(path.c_str());
  openslide_t* handle = openslide_open(path.c_str());
  if (!handle) {
    if (const auto reason = unsupported_format_reason(path)) throw UnsupportedFormatError(path + ": " + *reason);
    if (vendor) throw Error(path + ": OpenSlide detects a " + vendor + " slide but cannot open it");
    if (has_extension_in(path, std::begin(kReadableExtensions), std::end(kReadableExtensions))) {
      throw Error(path + ": OpenSlide cannot open it: the file is damaged, or not the format its extension says");
    }
    throw UnsupportedFormatError(path + ": not a slide format tessera reads; " + kReadableFormats);
  }
  auto slide = std::shared_ptr<Slide>(new Slide());
  slide->path_ = path;
  slide->handle_ = handle;
  slide->check("open");
  for (const char* const* name = openslide_get_property_names(handle); *name; ++name) {
    const char* value = openslide_get_property_value(handle, *name);
    slide->properties_[*name] = value ? value : "";
  }
  const int32_t count = openslide_get_level_count(handle);
  slide->check("level count");
  if (count < 1) throw Error(path + ": the slide has no levels");
  for (int32_t level = 0; level < count; ++level) {
    SlideLevel info;
    openslide_get_level_dimensions(handle, level, &info.width, &info.height);
    info.downsample = openslide_get_level_downsample(handle, level);
    slide->check("level geometry");
    if (info.width <= 0 || info.height <= 0 || !(info.downsample >= 1)) {
      throw Error(path + ": level " + std::to_string(level) + " has invalid geometry");
    }
    slide->levels_.push_back(info);
  }
  slide->format_ = vendor_or_empty(slide->properties_);
  for (const auto& level : slide->levels_) {
    slide->direct_.push_back(direct_tiff ? TiffLevelReader::probe(path, slide->format_, level.width, level.height)
                                         : nullptr);
  }
  return slide;
}

Slide::~Slide() {
  if (handle_) openslide_close(handle_);
}

void Slide::check(const char* operation) const {
  if (!handle_) return;
  if (const char* error = openslide_get_error(handle_)) {
    throw Error(path_ + ": OpenSlide " + operation + " failed: " + error);
  }
}

std::string Slide::quickhash() const { return property(handle_ ? "openslide.quickhash-1" : "dicom.quickhash"); }

double Slide::objective_power() const {
  const std::string power = property(handle_ ? "openslide.objective-power" : "dicom.ObjectiveLensPower");
  return power.empty() ? 0.0 : std::atof(power.c_str());
}

ReadPath Slide::read_path(int level) const {
  if (!reads_directly(level)) return ReadPath::kOpenSlide;
  return handle_ ? ReadPath::kDirectTiff : ReadPath::kDicom;
}

std::string Slide::property(const std::string& name) const {
  const auto it = properties_.find(name);
  return it == properties_.end() ? std::string() : it->second;
}

RgbImage Slide::read_region(int64_t x, int64_t y, int level, int64_t w, int64_t h, int decode_scale) const {
  if (reads_directly(level)) {
    const double downsample = levels_[size_t(level)].downsample * decode_scale;
    return direct_[size_t(level)]->read(std::llround(double(x) / downsample), std::llround(double(y) / downsample), w,
                                        h, decode_scale);
  }
  if (decode_scale != 1 || !handle_) {
    throw Error(path_ + ": level " + std::to_string(level) + " is read through OpenSlide, which cannot decode at 1/" +
                std::to_string(decode_scale));
  }
  std::vector<uint32_t> argb(size_t(w) * size_t(h));
  openslide_read_region(handle_, argb.data(), x, y, level, w, h);
  check("read_region");
  RgbImage out(static_cast<int>(w), static_cast<int>(h));
  uint8_t* dst = out.pixels.data();
  for (const uint32_t p : argb) {
    // Premultiplied ARGB over white: c + (255 - a).
    const uint32_t a = p >> 24;
    const uint32_t fill = 255 - a;
    dst[0] = uint8_t(((p >> 16) & 0xff) + fill);
    dst[1] = uint8_t(((p >> 8) & 0xff) + fill);
    dst[2] = uint8_t((p & 0xff) + fill);
    dst += 3;
  }
  return out;
}

bool is_openslide_file(const std::string& path) { return openslide_detect_vendor(path.c_str()) != nullptr; }

}  // namespace tessera::stages
