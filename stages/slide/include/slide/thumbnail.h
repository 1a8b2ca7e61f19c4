#pragma once

#include "imaging/rgb_image.h"
#include "slide/slide.h"

namespace tessera::stages {

struct Thumbnail {
  RgbImage image;
  double scale_x = 1;  // level-0 pixels per thumbnail pixel
  double scale_y = 1;
};

// A thumbnail whose longest side is at most `max_side`, made by libvips from
// the slide's coarsest sufficient level; libvips streams the level region by
// region, so memory stays bounded by the thumbnail's size.
Thumbnail read_thumbnail(const Slide& slide, int max_side);

}  // namespace tessera::stages
