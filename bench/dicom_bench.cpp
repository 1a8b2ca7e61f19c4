// bench/dicom: reading a slide as a DICOM series against reading the same
// slide as SVS or TIFF, in tiles of 256 px per second, one thread and two:
//   - CMU-1-Small-Region, whose DICOM frames Google's converter re-encoded
//     (../shared/data), read whole, every grid tile, several passes;
//   - a synthetic slide (--side px square) written as a tiled JPEG TIFF and as
//     a DICOM series of the same 256-px frames, and as JPEG 2000 frames;
//   - the DCT-scaled read at 1 µm/px (level 0 decoded at 1/2).
// The baselines are measured in the same run: OpenSlide on the SVS, and the
// direct TIFF path.
//
//   build/bench/dicom [--side PX] [--passes N]
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <string>
#include <thread>
#include <vector>

#include "bench_support.h"
#include "examples/dicom_series_writer.h"
#include "examples/synthetic_slide.h"
#include "imaging/vips_runtime.h"
#include "slide/slide.h"
#include "slide/slide_discovery.h"

namespace fs = std::filesystem;
using namespace tessera;
using namespace tessera::stages;

namespace {

constexpr int kTile = 256;

struct Args {
  int side = 8192;
  int passes = 5;
};

Args parse(int argc, char** argv) {
  Args a;
  bench::parse_int_flags(argc, argv, {{"--side", &a.side}, {"--passes", &a.passes}},
                         "bench/dicom [--side PX] [--passes N]");
  return a;
}

// Tiles per second reading every full grid tile of `slide`'s level 0 at
// 1/scale, `passes` times, on `threads` threads taking tiles in turn. A fresh
// handle per pass: the decoded-tile cache never serves a second pass.
double tiles_per_second(const std::function<std::shared_ptr<Slide>()>& open, int scale, int passes, int threads) {
  double seconds = 0;
  size_t tiles = 0;
  for (int pass = 0; pass < passes; ++pass) {
    const auto slide = open();
    const int64_t cols = slide->levels()[0].width / scale / kTile, rows = slide->levels()[0].height / scale / kTile;
    const auto start = std::chrono::steady_clock::now();
    std::vector<std::thread> workers;
    for (int t = 0; t < threads; ++t) {
      workers.emplace_back([&, t] {
        for (int64_t i = t; i < cols * rows; i += threads) {
          slide->read_region((i % cols) * kTile * scale, (i / cols) * kTile * scale, 0, kTile, kTile, scale);
        }
      });
    }
    for (auto& w : workers) w.join();
    seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    tiles += size_t(cols * rows);
  }
  return double(tiles) / seconds;
}

void row(const char* name, double one, double two, double baseline_one, double baseline_two, const char* baseline) {
  std::printf("  %-34s %8.0f %8.0f   %5.2fx %5.2fx %s\n", name, one, two, one / baseline_one, two / baseline_two,
              baseline);
}

void compare(const char* title, const std::function<std::shared_ptr<Slide>()>& reference, const char* reference_name,
             const std::vector<std::pair<const char*, std::function<std::shared_ptr<Slide>()>>>& others, int scale,
             int passes) {
  std::printf("%s\n  %-34s %8s %8s   %s\n", title, "read path", "1 thread", "2 threads", "ratio to the baseline");
  const double base_one = tiles_per_second(reference, scale, passes, 1);
  const double base_two = tiles_per_second(reference, scale, passes, 2);
  row(reference_name, base_one, base_two, base_one, base_two, "(baseline)");
  for (const auto& [name, open] : others) {
    row(name, tiles_per_second(open, scale, passes, 1), tiles_per_second(open, scale, passes, 2), base_one, base_two,
        reference_name);
  }
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  ensure_vips();
  const fs::path shared = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides";
  if (fs::exists(shared / "dicom-cmu-1-small-region")) {
    const std::string svs = (shared / "CMU-1-Small-Region.svs").string();
    const auto series = discover_slides({(shared / "dicom-cmu-1-small-region").string()}).at(0);
    compare(
        "CMU-1-Small-Region (2220 x 2967), every 256-px grid tile of level 0, tiles/s:",
        [&] { return Slide::open(svs, false); }, "SVS through OpenSlide",
        {{"SVS, direct TIFF read", [&] { return Slide::open(svs); }},
         {"DICOM (500-px JPEG frames)", [&] { return Slide::open(series); }}},
        1, args.passes * 4);
  } else {
    std::printf("CMU-1-Small-Region: ../shared/data is not here, skipped\n");
  }

  const fs::path dir = fs::temp_directory_path() / ("tessera-bench-dicom-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  examples::SyntheticSlideSpec spec;
  spec.width = spec.height = args.side;
  spec.level_downsamples = {1, 4, 16};
  const std::string tiff = (dir / "synthetic.tiff").string();
  examples::write_synthetic_slide(tiff, spec);
  const RgbImage pixels = examples::read_level0(tiff);
  examples::DicomSeriesSpec jpeg;
  jpeg.downsamples = {1, 4, 16};
  jpeg.jpeg_quality = spec.jpeg_quality;
  // 4:2:0 at the same quality, as write_level_tiff encodes the TIFF's tiles.
  examples::write_dicom_series(pixels, (dir / "jpeg").string(), jpeg);
  auto j2k = jpeg;
  j2k.codec = examples::DicomSeriesSpec::Codec::kJpeg2000;
  examples::write_dicom_series(pixels, (dir / "j2k").string(), j2k);
  const auto jpeg_series = discover_slides({(dir / "jpeg").string()}).at(0);
  const auto j2k_series = discover_slides({(dir / "j2k").string()}).at(0);
  char title[160];
  std::snprintf(title, sizeof title,
                "synthetic %d x %d, 256-px JPEG tiles and frames alike, every grid tile of level 0, tiles/s:",
                args.side, args.side);
  compare(
      title, [&] { return Slide::open(tiff, false); }, "TIFF through OpenSlide",
      {{"TIFF, direct read", [&] { return Slide::open(tiff); }},
       {"DICOM, JPEG frames", [&] { return Slide::open(jpeg_series); }},
       {"DICOM, JPEG 2000 frames", [&] { return Slide::open(j2k_series); }}},
      1, args.passes);
  std::snprintf(title, sizeof title, "the same at 1/2 (DCT-scaled JPEG, JPEG 2000's lower resolution), tiles/s:");
  compare(
      title, [&] { return Slide::open(tiff); }, "TIFF, direct read at 1/2",
      {{"DICOM, JPEG frames at 1/2", [&] { return Slide::open(jpeg_series); }},
       {"DICOM, JPEG 2000 frames at 1/2", [&] { return Slide::open(j2k_series); }}},
      2, args.passes);
  fs::remove_all(dir);
  return 0;
}
