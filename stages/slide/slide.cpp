#include "slide/slide.h"

#include <fcntl.h>
#include <openslide.h>
#include <unistd.h>

#include <cerrno>
#include <cmath>
#include <cstring>
#include <filesystem>
#include <optional>

#include "base/error.h"

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

std::shared_ptr<Slide> Slide::open(const std::string& path, bool direct_tiff) {
  if (const auto reason = unreadable_because(path)) throw Error(path + ": " + *reason);
  const char* vendor = openslide_detect_vendor(path.c_str());
  openslide_t* handle = openslide_open(path.c_str());
  if (!handle) {
    throw Error(path + ": " +
                (vendor ? std::string("OpenSlide detects a ") + vendor + " slide but cannot open it"
                        : std::string("not a slide format OpenSlide can open")));
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
  const std::string vendor_name = vendor_or_empty(slide->properties_);
  for (const auto& level : slide->levels_) {
    slide->direct_.push_back(direct_tiff ? TiffLevelReader::probe(path, vendor_name, level.width, level.height)
                                         : nullptr);
  }
  return slide;
}

Slide::~Slide() {
  if (handle_) openslide_close(handle_);
}

void Slide::check(const char* operation) const {
  if (const char* error = openslide_get_error(handle_)) {
    throw Error(path_ + ": OpenSlide " + operation + " failed: " + error);
  }
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
  if (decode_scale != 1) {
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
