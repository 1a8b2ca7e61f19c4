// bench/ingest: tessera ingest against `vips dzsave` and a plain single-thread
// OpenSlide read_region loop, on one large slide, in one run.
//
//   build/bench/ingest [--side 30000] [--work DIR] [--jobs N] [--source SLIDE]
//
// The large slide is a real one (CMU-1-Small-Region from ../shared/data, or the
// synthetic example when that is absent) replicated with libvips into a
// pyramidal JPEG TIFF of side x side pixels; it is cached in the work folder.
#include <openslide.h>
#include <tiffio.h>
#include <vips/vips.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <iostream>
#include <string>
#include <thread>

#include "bench_support.h"
#include "examples/synthetic_slide.h"
#include "imaging/vips_runtime.h"

namespace fs = std::filesystem;
using tessera::bench::run_measured;

namespace {

constexpr int kTile = 256;

fs::path find_source() {
  const fs::path shared = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides/CMU-1-Small-Region.svs";
  return fs::exists(shared) ? shared : fs::path();
}

// Replicates `source` to side x side and writes a tiled pyramidal JPEG TIFF
// with its µm/px in the resolution tags.
void make_large_slide(const fs::path& source, const fs::path& out, int side, double mpp) {
  tessera::stages::VipsRef in, across, cropped, tagged;
  if (vips_openslideload(source.c_str(), in.out(), nullptr)) tessera::stages::throw_vips_error("load");
  tessera::stages::VipsRef flat;
  double white[3] = {255, 255, 255};
  VipsArrayDouble* bg = vips_array_double_new(white, 3);
  const int rc = vips_flatten(in.get(), flat.out(), "background", bg, nullptr);
  vips_area_unref(VIPS_AREA(bg));
  if (rc) tessera::stages::throw_vips_error("flatten");
  const int w = vips_image_get_width(flat.get()), h = vips_image_get_height(flat.get());
  if (vips_replicate(flat.get(), across.out(), side / w + 1, side / h + 1, nullptr) ||
      vips_crop(across.get(), cropped.out(), 0, 0, side, side, nullptr) ||
      vips_copy(cropped.get(), tagged.out(), "xres", 1000.0 / mpp, "yres", 1000.0 / mpp, nullptr) ||
      vips_tiffsave(tagged.get(), out.c_str(), "tile", TRUE, "tile_width", kTile, "tile_height", kTile, "pyramid", TRUE,
                    "compression", VIPS_FOREIGN_TIFF_COMPRESSION_JPEG, "Q", 90, "resunit", VIPS_FOREIGN_TIFF_RESUNIT_CM,
                    nullptr)) {
    tessera::stages::throw_vips_error("cannot write " + out.string());
  }
}

// The floor: one thread reading every grid tile with openslide_read_region.
double plain_read_loop(const fs::path& slide_path, int64_t* tiles) {
  openslide_t* slide = openslide_open(slide_path.c_str());
  if (!slide) throw std::runtime_error("openslide cannot open " + slide_path.string());
  int64_t w = 0, h = 0;
  openslide_get_level0_dimensions(slide, &w, &h);
  std::vector<uint32_t> buffer(size_t(kTile) * kTile);
  const auto start = std::chrono::steady_clock::now();
  *tiles = 0;
  for (int64_t y = 0; y + kTile <= h; y += kTile) {
    for (int64_t x = 0; x + kTile <= w; x += kTile) {
      openslide_read_region(slide, buffer.data(), x, y, 0, kTile, kTile);
      ++*tiles;
    }
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  if (const char* error = openslide_get_error(slide)) throw std::runtime_error(error);
  openslide_close(slide);
  return seconds;
}

double directory_mib(const fs::path& dir) {
  uintmax_t bytes = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (entry.is_regular_file()) bytes += entry.file_size();
  }
  return double(bytes) / (1024.0 * 1024.0);
}

// The JPEG-decode floor: one thread decoding every native tile of level 0 with
// libtiff, no compositing, no copies.
double native_decode_loop(const fs::path& slide_path, int64_t* tiles) {
  TIFF* tiff = TIFFOpen(slide_path.c_str(), "rm");
  if (!tiff) throw std::runtime_error("libtiff cannot open " + slide_path.string());
  TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  std::vector<uint8_t> buffer(size_t(TIFFTileSize(tiff)));
  const auto start = std::chrono::steady_clock::now();
  *tiles = 0;
  for (uint32_t i = 0; i < TIFFNumberOfTiles(tiff); ++i) {
    if (TIFFReadEncodedTile(tiff, i, buffer.data(), tmsize_t(buffer.size())) < 0) {
      throw std::runtime_error("cannot decode tile " + std::to_string(i));
    }
    ++*tiles;
  }
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  TIFFClose(tiff);
  return seconds;
}

}  // namespace

int main(int argc, char** argv) {
  int side = 30000;
  int jobs = int(std::thread::hardware_concurrency());
  fs::path work = fs::temp_directory_path() / "tessera-bench-ingest";
  fs::path source = find_source();
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--side")
      side = std::atoi(argv[i + 1]);
    else if (flag == "--work")
      work = argv[i + 1];
    else if (flag == "--jobs")
      jobs = std::atoi(argv[i + 1]);
    else if (flag == "--source")
      source = argv[i + 1];
    else {
      std::cerr << "unknown flag " << flag << '\n';
      return 2;
    }
  }
  const std::string tessera = std::string(TESSERA_BINARY_DIR) + "/tessera";
  tessera::stages::ensure_vips(jobs);
  fs::create_directories(work);
  double mpp = 0.499;
  if (source.empty()) {
    source = work / "synthetic.tiff";
    tessera::examples::SyntheticSlideSpec spec;
    if (!fs::exists(source)) tessera::examples::write_synthetic_slide(source.string(), spec);
    mpp = spec.mpp;
  }
  const fs::path large = work / ("large-" + std::to_string(side) + ".tiff");
  if (!fs::exists(large)) {
    std::printf("making %s: %s replicated to %d x %d ...\n", large.c_str(), source.filename().c_str(), side, side);
    std::fflush(stdout);
    make_large_slide(source, large, side, mpp);
  }
  const int64_t grid = int64_t(side / kTile) * (side / kTile);
  const double slide_mp = double(side) * side / 1e6;
  std::printf("slide: %s, %d x %d (%.0f MP), %lld grid tiles of %d px, %d cores used\n", large.c_str(), side, side,
              slide_mp, (long long)grid, kTile, jobs);

  // 1. tessera ingest as users run it (tissue filters on).
  fs::remove_all(work / "store");
  const auto ours = run_measured({tessera, "ingest", "--store", (work / "store").string(), "--slides", large.string(),
                                  "--mpp", std::to_string(mpp), "--jobs", std::to_string(jobs), "--progress", "lines"},
                                 (work / "ingest.log").string());
  // 2. tessera ingest reading every grid tile (filters computed, nothing skipped
  //    by the mask): the same work as dzsave and the plain loop.
  fs::remove_all(work / "store-all");
  const auto ours_all = run_measured({tessera,
                                      "ingest",
                                      "--store",
                                      (work / "store-all").string(),
                                      "--slides",
                                      large.string(),
                                      "--mpp",
                                      std::to_string(mpp),
                                      "--jobs",
                                      std::to_string(jobs),
                                      "--min-tissue",
                                      "0",
                                      "--max-background",
                                      "1",
                                      "--max-pen",
                                      "1",
                                      "--min-blur-variance",
                                      "0",
                                      "--progress",
                                      "lines"},
                                     (work / "ingest-all.log").string());
  // 2b. the same with pixels in plain SSTs instead of blob files.
  fs::remove_all(work / "store-sst");
  const auto ours_sst = run_measured({tessera,
                                      "ingest",
                                      "--store",
                                      (work / "store-sst").string(),
                                      "--slides",
                                      large.string(),
                                      "--mpp",
                                      std::to_string(mpp),
                                      "--jobs",
                                      std::to_string(jobs),
                                      "--min-tissue",
                                      "0",
                                      "--max-background",
                                      "1",
                                      "--max-pen",
                                      "1",
                                      "--min-blur-variance",
                                      "0",
                                      "--progress",
                                      "lines",
                                      "--no-blob-files"},
                                     (work / "ingest-sst.log").string());
  // 3. vips dzsave, one level, 256 px tiles, same JPEG quality.
  fs::remove_all(work / "dz_files");
  fs::remove(work / "dz.dzi");
  const auto dz = run_measured({"vips", "dzsave", large.string(), (work / "dz").string(), "--depth", "one",
                                "--tile-size", std::to_string(kTile), "--overlap", "0", "--suffix", ".jpg[Q=90]"},
                               (work / "dzsave.log").string());
  // 4. plain single-thread read_region loop.
  int64_t plain_tiles = 0;
  const double plain_seconds = plain_read_loop(large, &plain_tiles);
  // 5. the JPEG-decode floor of the native tiles, single thread.
  int64_t native_tiles = 0;
  const double native_seconds = native_decode_loop(large, &native_tiles);

  if (ours.exit_code || ours_all.exit_code || ours_sst.exit_code || dz.exit_code) {
    std::fprintf(stderr, "a run failed: tessera %d, tessera(all) %d, dzsave %d; logs in %s\n", ours.exit_code,
                 ours_all.exit_code, dz.exit_code, work.c_str());
    return 1;
  }
  const double plain_rate = double(plain_tiles) / plain_seconds;
  const double all_rate = double(grid) / ours_all.seconds;
  const double dz_rate = double(grid) / dz.seconds;
  std::printf("\n%-38s %10s %10s %10s %12s\n", "run", "seconds", "tiles/s", "MP/s", "peak RSS MiB");
  auto row = [&](const char* name, double seconds, double tiles, double rss) {
    std::printf("%-38s %10.2f %10.1f %10.1f %12.1f\n", name, seconds, tiles / seconds,
                tiles * kTile * kTile / 1e6 / seconds, rss);
  };
  row("tessera ingest (filters on)", ours.seconds, double(grid), ours.peak_rss_mib);
  row("tessera ingest (every tile kept)", ours_all.seconds, double(grid), ours_all.peak_rss_mib);
  row("  same, pixels in plain SSTs", ours_sst.seconds, double(grid), ours_sst.peak_rss_mib);
  row("vips dzsave --depth one", dz.seconds, double(grid), dz.peak_rss_mib);
  row("plain read_region loop, 1 thread", plain_seconds, double(plain_tiles), tessera::bench::peak_rss_mib_of_self());
  row("native JPEG tile decode, 1 thread", native_seconds, double(native_tiles),
      tessera::bench::peak_rss_mib_of_self());
  std::printf("\nratios (higher is better for tessera):\n");
  std::printf("  tessera (filters on) vs dzsave, wall time:      %.2fx\n", dz.seconds / ours.seconds);
  std::printf("  tessera (every tile) vs dzsave, tiles/s:        %.2fx\n", all_rate / dz_rate);
  std::printf("  tessera (every tile) vs plain loop x %d cores:  %.2f (target >= 0.80)\n", jobs,
              all_rate / (plain_rate * jobs));
  std::printf("  tessera (every tile) vs decode floor x %d cores: %.2f (DESIGN.md target >= 0.80)\n", jobs,
              all_rate / (double(native_tiles) / native_seconds * jobs));
  std::printf("  store size, blob files vs plain SSTs: %.0f MiB vs %.0f MiB\n", directory_mib(work / "store-all"),
              directory_mib(work / "store-sst"));
  std::printf("  peak RSS, tessera: %.0f MiB (target < 1024)\n", std::max(ours.peak_rss_mib, ours_all.peak_rss_mib));
  return 0;
}
