#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "imaging/rgb_image.h"
#include "slide/tiff_level_reader.h"

typedef struct _openslide openslide_t;

namespace tessera::stages {

using PropertyMap = std::map<std::string, std::string>;

struct SlideLevel {
  int64_t width = 0;
  int64_t height = 0;
  double downsample = 1;
};

// An open OpenSlide handle. Reads are thread-safe (OpenSlide allows concurrent
// read_region on one handle); any OpenSlide error is sticky, so every call is
// checked and the first error is thrown with the file's name.
class Slide {
 public:
  // `direct_tiff` lets levels that are plain tiled JPEG TIFF directories be read
  // with libtiff instead of OpenSlide (TiffLevelReader); the pixels are the
  // same, without OpenSlide's compositing cost.
  // Throws, naming the file: a file that is missing, unreadable (with the
  // system's reason), not a regular file or empty, before any format is
  // tried; then a file OpenSlide cannot open.
  static std::shared_ptr<Slide> open(const std::string& path, bool direct_tiff = true);
  ~Slide();
  Slide(const Slide&) = delete;
  Slide& operator=(const Slide&) = delete;

  const std::string& path() const { return path_; }
  const PropertyMap& properties() const { return properties_; }
  const std::vector<SlideLevel>& levels() const { return levels_; }
  std::string property(const std::string& name) const;  // "" when absent

  // Reads a w x h region of `level` whose top-left is (x, y) in level-0
  // coordinates, composited over white (OpenSlide returns premultiplied ARGB
  // with transparent pixels outside the scanned area). With `decode_scale` > 1
  // the level is decoded at 1/decode_scale and w x h count those pixels; it
  // must divide largest_decode_scale(level).
  RgbImage read_region(int64_t x, int64_t y, int level, int64_t w, int64_t h, int decode_scale = 1) const;
  // True when `level` is read with libtiff rather than OpenSlide.
  bool reads_directly(int level) const { return level < int(direct_.size()) && direct_[size_t(level)]; }
  // The largest factor `level` can be decoded reduced by (1 when it is not
  // read directly).
  int largest_decode_scale(int level) const {
    return reads_directly(level) ? direct_[size_t(level)]->largest_decode_scale() : 1;
  }
  // The reader of a level read directly, else null.
  const TiffLevelReader* direct_reader(int level) const {
    return reads_directly(level) ? direct_[size_t(level)].get() : nullptr;
  }

 private:
  Slide() = default;
  void check(const char* operation) const;

  std::string path_;
  openslide_t* handle_ = nullptr;
  PropertyMap properties_;
  std::vector<SlideLevel> levels_;
  std::vector<std::unique_ptr<TiffLevelReader>> direct_;  // per level, or null
};

// True when OpenSlide recognises the file's format (used to scan folders).
bool is_openslide_file(const std::string& path);

}  // namespace tessera::stages
