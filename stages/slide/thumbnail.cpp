#include "slide/thumbnail.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <cstring>

#include "base/error.h"
#include "imaging/vips_runtime.h"
#include "slide/resample_method.h"

namespace tessera::stages {
namespace {

// A level read directly, decoded at 1/scale region by region as libvips asks
// for pixels: the thumbnail is resized from it without the level ever being
// decoded whole or at full size.
struct ScaledLevel {
  const TiledLevelReader* reader;
  int scale;
};

int generate_scaled(VipsRegion* out, void*, void* a, void*, gboolean*) {
  const auto& level = *static_cast<const ScaledLevel*>(a);
  const VipsRect& r = out->valid;
  try {
    const RgbImage pixels = level.reader->read(r.left, r.top, r.width, r.height, level.scale);
    for (int row = 0; row < r.height; ++row) {
      std::memcpy(VIPS_REGION_ADDR(out, r.left, r.top + row), pixels.at(0, row), size_t(r.width) * 3);
    }
    return 0;
  } catch (const Error& e) {
    vips_error("tessera", "%s", e.what());
    return -1;
  }
}

VipsRef scaled_level_image(const ScaledLevel& level, int64_t width, int64_t height) {
  VipsRef image(vips_image_new());
  vips_image_init_fields(image.get(), int((width + level.scale - 1) / level.scale),
                         int((height + level.scale - 1) / level.scale), 3, VIPS_FORMAT_UCHAR, VIPS_CODING_NONE,
                         VIPS_INTERPRETATION_sRGB, 1.0, 1.0);
  if (vips_image_pipelinev(image.get(), VIPS_DEMAND_STYLE_SMALLTILE, nullptr) ||
      vips_image_generate(image.get(), nullptr, generate_scaled, nullptr, const_cast<ScaledLevel*>(&level), nullptr)) {
    throw_vips_error("thumbnail source");
  }
  return image;
}

}  // namespace

ThumbnailSource thumbnail_source(const Slide& slide, int max_side, double min_side_fraction) {
  const auto& levels = slide.levels();
  const double longest = double(std::max(levels[0].width, levels[0].height));
  const double wanted_downsample = std::max(1.0, longest / (min_side_fraction * double(max_side)));
  ThumbnailSource source;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (levels[i].downsample <= wanted_downsample) source.level = int(i);
  }
  const double level_downsample = levels[size_t(source.level)].downsample;
  for (const int scale : kDecodeScales) {
    if (scale <= slide.largest_decode_scale(source.level) && level_downsample * scale <= wanted_downsample) {
      source.decode_scale = scale;
    }
  }
  if (const TiledLevelReader* image = slide.thumbnail_image()) {
    const double image_downsample = double(levels[0].width) / double(image->width());
    if (image_downsample <= wanted_downsample && image_downsample >= level_downsample * source.decode_scale) {
      source.thumbnail_image = true;
      source.decode_scale = 1;
    }
  }
  return source;
}

Thumbnail read_thumbnail(const Slide& slide, int max_side, int threads, double min_side_fraction) {
  const auto& levels = slide.levels();
  const auto source = thumbnail_source(slide, max_side, min_side_fraction);
  const std::string what = slide.path() + ": thumbnail";
  const ScaledLevel scaled{source.thumbnail_image ? slide.thumbnail_image() : slide.direct_reader(source.level),
                           source.decode_scale};
  VipsRef current;
  if (scaled.reader) {
    current = scaled_level_image(scaled, scaled.reader->width(), scaled.reader->height());
  } else if (vips_openslideload(slide.path().c_str(), current.out(), "level", source.level, nullptr)) {
    throw_vips_error(what);
  }
  const double level_longest =
      double(std::max(vips_image_get_width(current.get()), vips_image_get_height(current.get())));
  if (level_longest > max_side) {
    VipsRef resized;
    if (vips_resize(current.get(), resized.out(), double(max_side) / level_longest, nullptr)) throw_vips_error(what);
    current = std::move(resized);
  }
  Thumbnail thumb;
  thumb.image = to_rgb(current.get(), what, threads);
  thumb.scale_x = double(levels[0].width) / thumb.image.width;
  thumb.scale_y = double(levels[0].height) / thumb.image.height;
  return thumb;
}

}  // namespace tessera::stages
