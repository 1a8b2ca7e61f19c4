#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"
#include "slide/slide_source.h"
#include "slide/tiled_level_reader.h"

typedef struct _openslide openslide_t;

namespace tessera::stages {

using PropertyMap = std::map<std::string, std::string>;

struct SlideLevel {
  int64_t width = 0;
  int64_t height = 0;
  double downsample = 1;
};

// How a level's pixels are read.
enum class ReadPath {
  kOpenSlide,   // OpenSlide's read_region
  kDirectTiff,  // a tiled JPEG TIFF directory, with libtiff (TiffLevelReader)
  kDicom,       // a DICOM series' frames, with DCMTK (DicomLevelReader)
};
// "openslide", "direct-tiff", "dicom".
const char* to_string(ReadPath path);

// An open whole-slide image: a file OpenSlide opens, or a DICOM VL Whole Slide
// Microscopy series, which OpenSlide 3.4 cannot. Reads are thread-safe
// (OpenSlide allows concurrent read_region on one handle, the direct readers
// pool their handles); any OpenSlide error is sticky, so every call is checked
// and the first error is thrown with the file's name.
class Slide {
 public:
  // `direct_tiff` lets levels that are plain tiled JPEG TIFF directories be read
  // with libtiff instead of OpenSlide (TiffLevelReader); the pixels are the
  // same, without OpenSlide's compositing cost. A DICOM file is opened as a
  // series of its own.
  // Throws, naming the file: a file that is missing, unreadable (with the
  // system's reason), not a regular file or empty, before any format is
  // tried; then a file no reader can open, naming its format when it is
  // recognised (unsupported_format_reason).
  static std::shared_ptr<Slide> open(const std::string& path, bool direct_tiff = true);
  // A discovered slide: a DICOM series from its files, else open(path).
  // Throws as open(path) does, and for a series that arrange_pyramid refuses.
  static std::shared_ptr<Slide> open(const SlideSource& source);
  ~Slide();
  Slide(const Slide&) = delete;
  Slide& operator=(const Slide&) = delete;

  const std::string& path() const { return path_; }
  const PropertyMap& properties() const { return properties_; }
  const std::vector<SlideLevel>& levels() const { return levels_; }
  std::string property(const std::string& name) const;  // "" when absent
  // OpenSlide's vendor ("aperio", "generic-tiff", ...) or "dicom".
  const std::string& format() const { return format_; }
  // Identifies the pixels' source: OpenSlide's quickhash-1, or a DICOM
  // series' hash of its instance UIDs and sizes. A different file under the
  // same slide id has a different quickhash.
  std::string quickhash() const;
  // The scanner's objective power, 0 when the slide does not say.
  double objective_power() const;
  // What the reader noticed and read past (several optical paths, ...).
  const std::vector<std::string>& warnings() const { return warnings_; }

  // Reads a w x h region of `level` whose top-left is (x, y) in level-0
  // coordinates, composited over white (OpenSlide returns premultiplied ARGB
  // with transparent pixels outside the scanned area). With `decode_scale` > 1
  // the level is decoded at 1/decode_scale and w x h count those pixels; it
  // must divide largest_decode_scale(level).
  RgbImage read_region(int64_t x, int64_t y, int level, int64_t w, int64_t h, int decode_scale = 1) const;
  // True when `level` is read without OpenSlide.
  bool reads_directly(int level) const { return level < int(direct_.size()) && direct_[size_t(level)]; }
  ReadPath read_path(int level) const;
  // The largest factor `level` can be decoded reduced by (1 when it is not
  // read directly).
  int largest_decode_scale(int level) const {
    return reads_directly(level) ? direct_[size_t(level)]->largest_decode_scale() : 1;
  }
  // The reader of a level read directly, else null.
  const TiledLevelReader* direct_reader(int level) const {
    return reads_directly(level) ? direct_[size_t(level)].get() : nullptr;
  }
  // A DICOM series' THUMBNAIL image (same field of view as level 0), or null.
  const TiledLevelReader* thumbnail_image() const { return thumbnail_.get(); }

 private:
  Slide() = default;
  void check(const char* operation) const;
  static std::shared_ptr<Slide> open_with_openslide(const std::string& path, bool direct_tiff);
  static std::shared_ptr<Slide> open_dicom(const std::string& path, const std::vector<std::string>& files);

  std::string path_;
  std::string format_;
  openslide_t* handle_ = nullptr;  // null for DICOM
  PropertyMap properties_;
  std::vector<SlideLevel> levels_;
  std::vector<std::unique_ptr<TiledLevelReader>> direct_;  // per level, or null
  std::unique_ptr<TiledLevelReader> thumbnail_;
  std::vector<std::string> warnings_;
};

// True when OpenSlide recognises the file's format (used to scan folders).
bool is_openslide_file(const std::string& path);

}  // namespace tessera::stages
