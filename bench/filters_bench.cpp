// bench/filters: the measured quality behind the tissue mask and the blur rule.
//
// 1. Tissue mask against ground truth: synthetic slides whose tissue region is
//    known exactly (examples/synthetic_slide.h), at several sizes and seeds;
//    prints IoU, precision and recall of the mask at thumbnail resolution.
// 2. Blur rule: the variance of the Laplacian of real tissue tiles (CMU-1 from
//    ../shared/data, else the synthetic slide) and of the same tiles after a
//    Gaussian blur of sigma 1, 2 and 4 px; prints the distribution and how
//    many of each the default threshold rejects.
//
// 3. What score_tile costs per tile, on one thread.
// 4. What a slide costs before its first tile is read, step by step: the
//    thumbnail (on one thread and on --jobs), the tissue mask and the QC
//    picture; on --slide, else on the largest synthetic slide of part 1.
//
//   build/bench/filters [--slide PATH] [--jobs N]
#include <vips/vips.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "examples/synthetic_slide.h"
#include "imaging/vips_runtime.h"
#include "slide/qc_overlay.h"
#include "slide/resample_method.h"
#include "slide/resolution.h"
#include "slide/slide.h"
#include "slide/thumbnail.h"
#include "slide/tile_filter.h"
#include "slide/tile_reader.h"
#include "slide/tissue_mask.h"

namespace fs = std::filesystem;
using namespace tessera::stages;
namespace examples = tessera::examples;

namespace {

RgbImage gaussian_blur(const RgbImage& image, double sigma) {
  VipsRef in = wrap_rgb(image);
  VipsRef out;
  if (vips_gaussblur(in.get(), out.out(), sigma, nullptr)) throw_vips_error("blur");
  return to_rgb(out.get(), "blur");
}

double percentile(std::vector<double> v, double q) {
  std::sort(v.begin(), v.end());
  return v[size_t(q * double(v.size() - 1))];
}

// Seconds `step` takes, the fastest of three.
template <typename Step>
double fastest_of_three(Step&& step) {
  double best = 1e300;
  for (int round = 0; round < 3; ++round) {
    const auto start = std::chrono::steady_clock::now();
    step();
    best = std::min(best, std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
  }
  return best;
}

void plan_costs(const fs::path& path, int jobs) {
  const auto slide = Slide::open(path.string());
  const TissueOptions options;
  const auto source = thumbnail_source(*slide, options.thumbnail_side);
  ResolutionOptions resolution;
  resolution.assumed_mpp = 0.5;
  const double mpp = resolve_resolution(slide->properties(), resolution).mpp_x;
  Thumbnail thumb;
  const double one = fastest_of_three([&] { thumb = read_thumbnail(*slide, options.thumbnail_side, 1); });
  const double many = fastest_of_three([&] { thumb = read_thumbnail(*slide, options.thumbnail_side, jobs); });
  TissueMask mask;
  const double masking = fastest_of_three(
      [&] { mask = compute_tissue_mask(thumb.image, thumb.scale_x, thumb.scale_y, mpp * thumb.scale_x, options); });
  const double qc = fastest_of_three([&] { make_qc_base(thumb.image, mask, kQcSide); });
  std::printf("\nbefore the first tile of %s (%lld x %lld; thumbnail %d x %d from level %d at 1/%d), fastest of 3:\n",
              path.filename().c_str(), (long long)slide->levels()[0].width, (long long)slide->levels()[0].height,
              thumb.image.width, thumb.image.height, source.level, source.decode_scale);
  std::printf("  thumbnail, 1 thread:  %7.3f s\n  thumbnail, %d threads: %7.3f s\n", one, jobs, many);
  const auto scaled_source = thumbnail_source(*slide, options.thumbnail_side, kDctScaledThumbnailFraction);
  Thumbnail scaled;
  const double dct = fastest_of_three(
      [&] { scaled = read_thumbnail(*slide, options.thumbnail_side, jobs, kDctScaledThumbnailFraction); });
  std::printf("  thumbnail, %d threads, as --resample dct-scaled makes it (%d x %d from level %d at 1/%d): %.3f s\n",
              jobs, scaled.image.width, scaled.image.height, scaled_source.level, scaled_source.decode_scale, dct);
  std::printf("  tissue mask:          %7.3f s\n  QC picture:           %7.3f s\n", masking, qc);
}

}  // namespace

int main(int argc, char** argv) {
  fs::path plan_slide_path;
  int jobs = 2;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--slide") {
      plan_slide_path = argv[i + 1];
    } else if (flag == "--jobs") {
      jobs = std::max(1, std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "usage: bench/filters [--slide PATH] [--jobs N]\n");
      return 2;
    }
  }
  ensure_vips();
  const fs::path work = fs::temp_directory_path() / "tessera-bench-filters";
  fs::create_directories(work);

  std::printf("tissue mask vs ground truth (synthetic slides, mask at thumbnail resolution)\n");
  std::printf(
      "(the thumbnail as a lanczos3 ingest makes it, and as a dct-scaled one: from a level with at least "
      "%g of its side)\n",
      kDctScaledThumbnailFraction);
  std::printf("%-24s %-11s %9s %10s %10s %10s\n", "slide", "resampling", "thumb", "IoU", "precision", "recall");
  for (const auto& [w, h, seed] :
       {std::tuple{6144, 4096, 1u}, std::tuple{4096, 4096, 2u}, std::tuple{12288, 8192, 3u}}) {
    examples::SyntheticSlideSpec spec;
    spec.width = w, spec.height = h, spec.seed = seed;
    const fs::path path = work / ("mask-" + std::to_string(w) + "x" + std::to_string(h) + ".tiff");
    if (!fs::exists(path)) examples::write_synthetic_slide(path.string(), spec);
    const auto slide = Slide::open(path.string());
    const auto pen = examples::pen_stroke_rect(spec);
    for (const double fraction : {1.0, kDctScaledThumbnailFraction}) {
      const auto thumb = read_thumbnail(*slide, TissueOptions{}.thumbnail_side, 1, fraction);
      const auto mask = compute_tissue_mask(thumb.image, thumb.scale_x, thumb.scale_y, spec.mpp * thumb.scale_x, {});
      uint64_t tp = 0, fp = 0, fn = 0;
      for (int y = 0; y < mask.height; ++y) {
        for (int x = 0; x < mask.width; ++x) {
          // Truth at the mask pixel's centre; the pen stroke is not tissue.
          const double lx = (x + 0.5) * mask.scale_x, ly = (y + 0.5) * mask.scale_y;
          const bool on_pen = lx >= pen.x0 && lx < pen.x1 && ly >= pen.y0 && ly < pen.y1;
          const bool truth = examples::inside_tissue(spec, lx, ly) && !on_pen;
          const bool said = mask.inside[size_t(y) * mask.width + x] != 0;
          tp += truth && said;
          fp += !truth && said;
          fn += truth && !said;
        }
      }
      char name[64];
      std::snprintf(name, sizeof name, "%dx%d seed %u", w, h, seed);
      std::printf("%-24s %-11s %4dx%-4d %10.4f %10.4f %10.4f\n", name, fraction < 1 ? "dct-scaled" : "lanczos3",
                  mask.width, mask.height, double(tp) / double(tp + fp + fn), double(tp) / double(tp + fp),
                  double(tp) / double(tp + fn));
    }
  }

  fs::path real = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides/CMU-1-Small-Region.svs";
  if (!fs::exists(real)) real = work / "mask-6144x4096.tiff";
  const auto slide = Slide::open(real.string());
  const FilterOptions options;
  std::vector<RgbImage> tiles;
  const auto& level0 = slide->levels()[0];
  for (int64_t y = 0; y + 256 <= level0.height; y += 256) {
    for (int64_t x = 0; x + 256 <= level0.width; x += 256) {
      auto tile = slide->read_region(x, y, 0, 256, 256);
      if (score_tile(tile, false, options).background_fraction < 0.3) tiles.push_back(std::move(tile));
    }
  }
  std::printf("\nblur rule on %zu tissue tiles of %s (default threshold %.0f)\n", tiles.size(), real.filename().c_str(),
              options.min_blur_variance);
  std::printf("%-14s %10s %10s %10s %10s %12s\n", "tiles", "min", "p05", "median", "max", "rejected");
  for (const double sigma : {0.0, 1.0, 2.0, 4.0}) {
    std::vector<double> variance;
    int rejected = 0;
    for (const auto& tile : tiles) {
      const auto scores = score_tile(sigma > 0 ? gaussian_blur(tile, sigma) : tile, false, options);
      variance.push_back(scores.blur_variance);
      rejected += scores.blur_variance < options.min_blur_variance;
    }
    char name[32];
    std::snprintf(name, sizeof name, sigma > 0 ? "blur sigma %.0f" : "as scanned", sigma);
    std::printf("%-14s %10.1f %10.1f %10.1f %10.1f %7d/%zu\n", name, percentile(variance, 0),
                percentile(variance, 0.05), percentile(variance, 0.5), percentile(variance, 1), rejected, tiles.size());
  }

  // What scoring costs per tile, on one thread: ingest pays it for every tile read.
  constexpr int kRounds = 200;
  double checksum = 0;
  const auto start = std::chrono::steady_clock::now();
  for (int round = 0; round < kRounds; ++round) {
    for (const auto& tile : tiles) checksum += score_tile(tile, false, options).blur_variance;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  std::printf("\nscore_tile: %.1f us per 256 px tile, one thread (%d scores; checksum %.0f)\n",
              seconds / double(kRounds * tiles.size()) * 1e6, int(kRounds * tiles.size()), checksum);

  plan_costs(plan_slide_path.empty() ? work / "mask-12288x8192.tiff" : plan_slide_path, jobs);
  return 0;
}
