#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::examples {

// A synthetic brightfield slide with known content, for the demo, the tests and
// the benchmarks. Layout, in fractions of the slide:
//  - white glass everywhere except an elliptical tissue region centred at
//    (0.45, 0.5) with radii (0.35, 0.38), textured as H&E (eosin stroma with
//    fibres, haematoxylin nuclei);
//  - a green pen stroke, `pen_width_px` thick, along y = 0.3 from x = 0.25 to 0.6;
//  - a blurred (out-of-focus) rectangle of tissue, `blur_area` (x0, y0, x1, y1).
struct SyntheticSlideSpec {
  int width = 6144;
  int height = 4096;
  double mpp = 0.5;  // written as TIFF resolution tags
  uint32_t seed = 1;
  bool pen_stroke = true;
  int pen_width_px = 48;
  bool blurred_patch = true;
  double blur_area[4] = {0.45, 0.55, 0.6, 0.7};
  double blur_sigma_px = 6;
  int jpeg_quality = 90;
  // False writes libvips's default 1 px/mm, as scanners that record nothing do,
  // which reads as an implausible 1000 µm/px.
  bool write_resolution = true;
  // The levels' downsamples, written by write_level_tiff; empty writes
  // libvips's pyramid, a level every 2×.
  std::vector<int> level_downsamples;
  bool rgb_jpeg = false;  // with level_downsamples: photometric RGB JPEG tiles
};

// Writes a tiled, pyramidal, JPEG-compressed TIFF that OpenSlide opens as
// generic-tiff, with µm/px in its resolution tags. Throws tessera::Error.
void write_synthetic_slide(const std::string& path, const SyntheticSlideSpec& spec);

// Pen stroke and blurred patch rectangles in level-0 pixels: [x0, x1) x [y0, y1).
struct PixelRect {
  int x0, y0, x1, y1;
};
PixelRect pen_stroke_rect(const SyntheticSlideSpec& spec);
PixelRect blurred_patch_rect(const SyntheticSlideSpec& spec);
bool inside_tissue(const SyntheticSlideSpec& spec, double x, double y);

}  // namespace tessera::examples
