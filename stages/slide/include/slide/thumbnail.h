#pragma once

#include "imaging/rgb_image.h"
#include "slide/slide.h"

namespace tessera::stages {

struct Thumbnail {
  RgbImage image;
  double scale_x = 1;  // level-0 pixels per thumbnail pixel
  double scale_y = 1;
};

// Where a thumbnail of at most `max_side` comes from: the coarsest level with
// at least min_side_fraction * max_side pixels on its longest side, decoded
// reduced by the largest factor that keeps it so (1 for levels read through
// OpenSlide); or a DICOM series' THUMBNAIL image when it has that many pixels
// and no more than that level would decode.
struct ThumbnailSource {
  int level = 0;
  int decode_scale = 1;
  bool thumbnail_image = false;  // the series' THUMBNAIL image, not `level`
};
ThumbnailSource thumbnail_source(const Slide& slide, int max_side, double min_side_fraction = 1);

// A thumbnail whose longest side is at most `max_side`, made by libvips from
// the level thumbnail_source chooses, shrunk to max_side when it is larger:
// at least min_side_fraction * max_side, where level 0 is that large. libvips
// streams the level region by region, so memory stays bounded by the
// thumbnail's size. The level is decoded reduced where thumbnail_source says
// so: a slide with no small level is not decoded at full size for its
// thumbnail. `threads` compute it in bands at once, with the same pixels as one.
Thumbnail read_thumbnail(const Slide& slide, int max_side, int threads = 1, double min_side_fraction = 1);

}  // namespace tessera::stages
