// bench/resample_quality: tiles made by DCT-scaled decoding against the
// Lanczos3 reference (libvips reduce from full resolution) on real tissue,
// for the factors 40x scans need: 2x (0.25 -> 0.5 µm/px), 4x and 2.2x (NDPI's
// 0.2273 -> 0.5). Prints the PSNR between the two and the blur score the
// filters use, with how many tiles the blur filter would judge differently.
//
//   build/bench/resample_quality [--slide SVS] [--work DIR]
//
// The slide is CMU-1-Small-Region from ../shared/data; to see whether the blur
// filter's decisions move, the same tissue is also written out of focus
// (Gaussian sigma 1.5 and 3 px) as JPEG TIFFs and measured alike.
#include <vips/vips.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "examples/level_tiff.h"
#include "imaging/image_metrics.h"
#include "imaging/vips_runtime.h"
#include "slide/level_choice.h"
#include "slide/slide.h"
#include "slide/tile_filter.h"
#include "slide/tile_grid.h"
#include "slide/tile_reader.h"

namespace fs = std::filesystem;
using namespace tessera::stages;

namespace {

constexpr int kTile = 256;
constexpr double kTolerance = 0.05;

struct Comparison {
  int tiles = 0;
  double psnr_sum = 0;
  double psnr_min = 1e9;
  double blur_reference = 0;  // mean blur score
  double blur_dct = 0;
  int verdicts_changed = 0;  // at the default --min-blur-variance
};

Comparison compare(const Slide& slide, double base_mpp, double factor) {
  const FilterOptions filter;
  const LevelChoice lanczos{0, 1, factor, base_mpp * factor, 1};
  const LevelChoice dct = with_decode_scale(lanczos, slide.largest_decode_scale(0), base_mpp, kTolerance);
  const auto& level0 = slide.levels()[0];
  // Tiles as tessera makes them with --resample dct-scaled ...
  TileGrid grid = make_tile_grid(level0.width, level0.height, dct, kTile, 0);
  // ... on a finer grid than ingest's, for more tiles of the little tissue
  // there is; a step every decode scale divides keeps scaled reads on a pixel.
  const int64_t step = 128;
  // The reference reads enough full-resolution pixels to reduce by exactly
  // the factor, so neither side carries a rounded read's scale error.
  const int reference_read = int(std::ceil(kTile * factor));
  Comparison c;
  for (int64_t y = 0; y + reference_read <= level0.height; y += step) {
    for (int64_t x = 0; x + reference_read <= level0.width; x += step) {
      const RgbImage reference =
          reduce_by(slide.read_region(x, y, 0, reference_read, reference_read), factor, kTile, kTile);
      const FilterScores ref_scores = score_tile(reference, false, filter);
      if (ref_scores.background_fraction > 0.5) continue;  // tissue tiles only
      const RgbImage scaled = read_tile(slide, 0, grid, GridCell{0, 0, x, y});
      const FilterScores dct_scores = score_tile(scaled, false, filter);
      const double p = psnr(reference, scaled);
      ++c.tiles;
      c.psnr_sum += p;
      c.psnr_min = std::min(c.psnr_min, p);
      c.blur_reference += ref_scores.blur_variance;
      c.blur_dct += dct_scores.blur_variance;
      c.verdicts_changed += (ref_scores.blur_variance < filter.min_blur_variance) !=
                            (dct_scores.blur_variance < filter.min_blur_variance);
    }
  }
  if (c.tiles) c.blur_reference /= c.tiles, c.blur_dct /= c.tiles;
  return c;
}

// The slide's level 0 blurred with `sigma` px, written as a 256-px JPEG TIFF.
fs::path blurred_copy(const fs::path& slide, double sigma, double mpp, const fs::path& work) {
  const fs::path out = work / ("blurred-" + std::to_string(sigma).substr(0, 3) + ".tiff");
  if (fs::exists(out)) return out;
  VipsRef in, flat, blurred;
  double white[3] = {255, 255, 255};
  VipsArrayDouble* background = vips_array_double_new(white, 3);
  const bool failed = vips_openslideload(slide.c_str(), in.out(), nullptr) ||
                      vips_flatten(in.get(), flat.out(), "background", background, nullptr) ||
                      vips_gaussblur(flat.get(), blurred.out(), sigma, nullptr);
  vips_area_unref(VIPS_AREA(background));
  if (failed) throw_vips_error("blur " + slide.string());
  tessera::examples::write_level_tiff(blurred.get(), out.string(), {{1}, mpp, 90, false});
  return out;
}

}  // namespace

int main(int argc, char** argv) {
  fs::path slide_path = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides/CMU-1-Small-Region.svs";
  fs::path work = fs::temp_directory_path() / "tessera-bench-resample-quality";
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--slide") {
      slide_path = argv[i + 1];
    } else if (flag == "--work") {
      work = argv[i + 1];
    } else {
      std::cerr << "unknown flag " << flag << '\n';
      return 2;
    }
  }
  if (!fs::exists(slide_path)) {
    std::cerr << "no slide at " << slide_path << " (../shared/data is needed, or --slide)\n";
    return 2;
  }
  ensure_vips();
  fs::create_directories(work);
  // The slide's own µm/px does not matter here: only the factors do.
  const double base_mpp = 0.25;
  const std::vector<std::pair<std::string, fs::path>> slides = {
      {"in focus", slide_path},
      {"blurred 1.5 px", blurred_copy(slide_path, 1.5, base_mpp, work)},
      {"blurred 3 px", blurred_copy(slide_path, 3.0, base_mpp, work)},
  };
  std::printf("%-15s %7s %6s %10s %10s %12s %12s %9s\n", "tissue", "factor", "tiles", "PSNR mean", "PSNR min",
              "blur lanczos", "blur dct", "verdicts");
  for (const auto& [name, path] : slides) {
    const auto slide = Slide::open(path.string());
    for (const double factor : {2.0, 4.0, 2.2}) {
      const Comparison c = compare(*slide, base_mpp, factor);
      std::printf("%-15s %6.1fx %6d %7.2f dB %7.2f dB %12.1f %12.1f %5d/%d\n", name.c_str(), factor, c.tiles,
                  c.psnr_sum / std::max(1, c.tiles), c.psnr_min, c.blur_reference, c.blur_dct, c.verdicts_changed,
                  c.tiles);
    }
  }
  std::printf("\nverdicts: tiles the blur filter (--min-blur-variance %.0f) judges differently\n",
              FilterOptions{}.min_blur_variance);
  return 0;
}
