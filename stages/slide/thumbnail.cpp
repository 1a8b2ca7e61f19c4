#include "slide/thumbnail.h"

#include <vips/vips.h>

#include <algorithm>
#include <cmath>

#include "imaging/vips_runtime.h"

namespace tessera::stages {

Thumbnail read_thumbnail(const Slide& slide, int max_side) {
  const auto& levels = slide.levels();
  const double longest = double(std::max(levels[0].width, levels[0].height));
  const double wanted_downsample = std::max(1.0, longest / double(max_side));
  int level = 0;
  for (size_t i = 0; i < levels.size(); ++i) {
    if (levels[i].downsample <= wanted_downsample) level = int(i);
  }
  const std::string what = slide.path() + ": thumbnail";
  VipsRef loaded;
  if (vips_openslideload(slide.path().c_str(), loaded.out(), "level", level, nullptr)) throw_vips_error(what);
  VipsRef current = std::move(loaded);
  const double level_longest =
      double(std::max(vips_image_get_width(current.get()), vips_image_get_height(current.get())));
  if (level_longest > max_side) {
    VipsRef resized;
    if (vips_resize(current.get(), resized.out(), double(max_side) / level_longest, nullptr)) throw_vips_error(what);
    current = std::move(resized);
  }
  Thumbnail thumb;
  thumb.image = to_rgb(current.get(), what);
  thumb.scale_x = double(levels[0].width) / thumb.image.width;
  thumb.scale_y = double(levels[0].height) / thumb.image.height;
  return thumb;
}

}  // namespace tessera::stages
