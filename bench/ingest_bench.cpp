// bench/ingest: tessera ingest against `vips dzsave` and a plain single-thread
// OpenSlide read_region loop, on one large slide, in one run.
//
//   build/bench/ingest [--side 30000] [--work DIR] [--jobs N] [--source SLIDE] [--source-mpp 0.25 [--rounds 3]]
//
// The large slide is a real one (CMU-1-Small-Region from ../shared/data, or the
// synthetic example when that is absent) replicated with libvips into a
// pyramidal JPEG TIFF of side x side pixels; it is cached in the work folder.
// With --source-mpp the slide is a 40x scan instead: tagged at that µm/px,
// with levels at 1x, 4x and 16x only, tiled at 0.5 µm/px with both resampling
// methods against libvips reduce + dzsave, openslide-python + PIL and the
// JPEG decode floors, each the fastest of --rounds rounds.
#include <openslide.h>
#include <tiffio.h>
#include <vips/vips.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <memory>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "base/number_text.h"
#include "bench_support.h"
#include "examples/level_tiff.h"
#include "examples/synthetic_slide.h"
#include "imaging/vips_runtime.h"
#include "slide/jpeg_tile_decoder.h"
#include "slide/level_choice.h"
#include "slide/slide.h"
#include "slide/tile_grid.h"

namespace fs = std::filesystem;
using tessera::bench::run_measured;

namespace {

constexpr int kTile = 256;
// Debian's interpreter, which has python3-openslide and python3-pil, whatever
// python3 comes first on PATH.
constexpr const char* kDebianPython = "/usr/bin/python3";

fs::path find_source() {
  const fs::path shared = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides/CMU-1-Small-Region.svs";
  return fs::exists(shared) ? shared : fs::path();
}

// `source` replicated to side x side, flattened on white.
tessera::stages::VipsRef replicated(const fs::path& source, int side) {
  tessera::stages::VipsRef in, flat, across, cropped;
  if (vips_openslideload(source.c_str(), in.out(), nullptr)) tessera::stages::throw_vips_error("load");
  double white[3] = {255, 255, 255};
  VipsArrayDouble* bg = vips_array_double_new(white, 3);
  const int rc = vips_flatten(in.get(), flat.out(), "background", bg, nullptr);
  vips_area_unref(VIPS_AREA(bg));
  if (rc) tessera::stages::throw_vips_error("flatten");
  const int w = vips_image_get_width(flat.get()), h = vips_image_get_height(flat.get());
  if (vips_replicate(flat.get(), across.out(), side / w + 1, side / h + 1, nullptr) ||
      vips_crop(across.get(), cropped.out(), 0, 0, side, side, nullptr)) {
    tessera::stages::throw_vips_error("replicate");
  }
  return cropped;
}

// Replicates `source` to side x side and writes a tiled pyramidal JPEG TIFF
// with its µm/px in the resolution tags.
void make_large_slide(const fs::path& source, const fs::path& out, int side, double mpp) {
  tessera::stages::VipsRef image = replicated(source, side), tagged;
  if (vips_copy(image.get(), tagged.out(), "xres", 1000.0 / mpp, "yres", 1000.0 / mpp, nullptr) ||
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

// `tessera ingest` of one slide with every filter off, so that every grid tile
// is read, scored, encoded and stored: the same work as dzsave and the loops.
std::vector<std::string> ingest_every_tile(const std::string& tessera, const fs::path& store, const fs::path& slide,
                                           double mpp, int jobs, std::vector<std::string> extra) {
  std::vector<std::string> argv = {tessera,
                                   "ingest",
                                   "--store",
                                   store.string(),
                                   "--slides",
                                   slide.string(),
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
                                   "lines"};
  argv.insert(argv.end(), extra.begin(), extra.end());
  return argv;
}

// The scaled-decode floor: `threads` threads decoding every level-0 tile
// between them with libjpeg-turbo at 1/scale, no copies. Returns seconds;
// `pixels` gets the decoded pixels.
double scaled_decode_loop(const fs::path& slide_path, int scale, int threads, double* pixels) {
  TIFF* tiff = TIFFOpen(slide_path.c_str(), "rm");
  if (!tiff) throw std::runtime_error("libtiff cannot open " + slide_path.string());
  uint32_t tw = 0, th = 0;
  TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
  std::vector<std::unique_ptr<tessera::stages::JpegTileDecoder>> decoders;
  for (int t = 0; t < threads; ++t) decoders.push_back(tessera::stages::JpegTileDecoder::for_directory(tiff));
  // Compressed tiles are read before the clock starts: the floor is the decode.
  std::vector<std::vector<uint8_t>> compressed(TIFFNumberOfTiles(tiff));
  for (uint32_t i = 0; i < compressed.size(); ++i) {
    compressed[i].resize(size_t(TIFFGetStrileByteCount(tiff, i)));
    TIFFReadRawTile(tiff, i, compressed[i].data(), tmsize_t(compressed[i].size()));
  }
  TIFFClose(tiff);
  const int w = int(tw) / scale, h = int(th) / scale;
  std::vector<std::string> errors(static_cast<size_t>(threads));
  const auto start = std::chrono::steady_clock::now();
  std::vector<std::thread> workers;
  for (int t = 0; t < threads; ++t) {
    workers.emplace_back([&, t] {
      auto& decoder = *decoders[size_t(t)];
      std::vector<uint8_t> out(size_t(w) * size_t(h) * 3);
      for (size_t i = size_t(t); i < compressed.size(); i += size_t(threads)) {
        if (!decoder.decode(compressed[i].data(), compressed[i].size(), scale, out.data(), w, h, errors[size_t(t)])) {
          return;
        }
      }
    });
  }
  for (auto& worker : workers) worker.join();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  for (const auto& error : errors) {
    if (!error.empty()) throw std::runtime_error(error);
  }
  *pixels = double(compressed.size()) * w * h;
  return seconds;
}

// One contender's runs: the fastest, the slowest and the largest peak RSS.
struct Fastest {
  tessera::bench::ProcessStats best;
  double slowest = 0;
  double peak_rss_mib = 0;
  int failed = 0;  // the exit code of a failed run

  void add(const tessera::bench::ProcessStats& run) {
    if (run.exit_code != 0) failed = run.exit_code;
    if (best.exit_code != 0 || run.seconds < best.seconds) best = run;
    slowest = std::max(slowest, run.seconds);
    peak_rss_mib = std::max(peak_rss_mib, run.peak_rss_mib);
  }
  void add(double seconds) { add(tessera::bench::ProcessStats{0, seconds, 0}); }
};

uint64_t files_under(const fs::path& dir) {
  uint64_t count = 0;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) count += entry.is_regular_file();
  return count;
}

// Issue 14's case: a 40x scan whose levels are 1x, 4x and 16x (Aperio's
// layout), tiled at 0.5 µm/px, so every tile falls between levels.
int forty_x_case(const fs::path& source, const fs::path& work, int side, double source_mpp, int jobs, int rounds,
                 const std::string& binary) {
  constexpr double kTargetMpp = 0.5;
  const fs::path slide =
      work / ("large-" + std::to_string(side) + "-" + tessera::shortest_decimal(source_mpp) + "um-1-4-16x.tiff");
  if (!fs::exists(slide)) {
    std::printf("making %s: %s replicated to %d x %d, levels 1x 4x 16x ...\n", slide.c_str(), source.filename().c_str(),
                side, side);
    std::fflush(stdout);
    // JPEG of RGB components, as libvips and CMU-1's scanner write them.
    tessera::examples::write_level_tiff(replicated(source, side).get(), slide.string(),
                                        {{1, 4, 16}, source_mpp, 90, /*rgb_jpeg=*/true});
  }
  // The grids as tessera computes them, for each method.
  const auto opened = tessera::stages::Slide::open(slide.string());
  const auto lanczos = tessera::stages::choose_level(opened->levels(), source_mpp, kTargetMpp, 0.05);
  const auto dct =
      tessera::stages::with_decode_scale(lanczos, opened->largest_decode_scale(lanczos.level), source_mpp, 0.05);
  const auto lanczos_grid = tessera::stages::make_tile_grid(side, side, lanczos, kTile, 0);
  const auto dct_grid = tessera::stages::make_tile_grid(side, side, dct, kTile, 0);
  std::printf(
      "slide: %s, %d x %d at %g um/px; at %g um/px: lanczos3 reads %d px per tile (%llu tiles), dct-scaled "
      "decodes at 1/%d and reads %d px (%llu tiles), %d cores used\n",
      slide.c_str(), side, side, source_mpp, kTargetMpp, lanczos_grid.read_size,
      (unsigned long long)lanczos_grid.size(), dct.decode_scale, dct_grid.read_size,
      (unsigned long long)dct_grid.size(), jobs);

  // Every contender runs once per round, the rounds one after another, and
  // each keeps its fastest round: this machine's noise, which moves one run by
  // up to a fifth, falls on all of them alike and least on the fastest.
  const std::string factor = tessera::shortest_decimal(kTargetMpp / source_mpp);
  const std::string script = std::string(TESSERA_SOURCE_DIR) + "/bench/openslide_pil_loop.py";
  const auto python_log = work / "python-loop.log";
  const bool have_python =
      run_measured({kDebianPython, "-c", "import openslide, PIL"}, python_log.string()).exit_code == 0;
  Fastest ours_lanczos, ours_dct, vips, python, full_decode, scaled_decode, parallel_decode;
  uint64_t vips_tiles = 0, python_tiles = 0;
  int64_t full_tiles = 0;
  double scaled_pixels = 0, parallel_pixels = 0;
  for (int round = 0; round < rounds; ++round) {
    fs::remove_all(work / "store-40x-lanczos3");
    ours_lanczos.add(run_measured(
        ingest_every_tile(binary, work / "store-40x-lanczos3", slide, kTargetMpp, jobs, {"--resample", "lanczos3"}),
        (work / "ingest-40x-lanczos3.log").string()));
    fs::remove_all(work / "store-40x-dct");
    ours_dct.add(run_measured(
        ingest_every_tile(binary, work / "store-40x-dct", slide, kTargetMpp, jobs, {"--resample", "dct-scaled"}),
        (work / "ingest-40x-dct.log").string()));

    // libvips: Lanczos3 reduce from level 0 straight into dzsave, one command.
    fs::remove_all(work / "reduced_files");
    fs::remove(work / "reduced.dzi");
    const auto vips_round = run_measured(
        {"vips", "reduce", slide.string(),
         (work / "reduced.dz").string() + "[container=fs,depth=one,tile_size=256,overlap=0,suffix=.jpg[Q=90]]", factor,
         factor},
        (work / "vips-reduce.log").string());
    vips.add(vips_round);
    if (vips_round.exit_code == 0) vips_tiles = files_under(work / "reduced_files" / "0");

    // openslide-python + PIL, one process per core.
    if (have_python) {
      const auto python_round =
          run_measured({kDebianPython, script, slide.string(), std::to_string(lanczos_grid.read_size),
                        std::to_string(kTile), std::to_string(jobs)},
                       python_log.string());
      python.add(python_round);
      if (python_round.exit_code == 0) std::ifstream(python_log) >> python_tiles;
    }

    // Decode floors, one thread: full size (libtiff), and at the scale
    // dct-scaled uses; then that scale on every core.
    full_decode.add(native_decode_loop(slide, &full_tiles));
    scaled_decode.add(scaled_decode_loop(slide, dct.decode_scale, 1, &scaled_pixels));
    parallel_decode.add(scaled_decode_loop(slide, dct.decode_scale, jobs, &parallel_pixels));
  }
  // In output tiles per second: the pixels each output tile needs decoded.
  const double full_floor = double(full_tiles) * kTile * kTile / full_decode.best.seconds /
                            (double(lanczos_grid.read_size) * lanczos_grid.read_size);
  const double scaled_floor =
      scaled_pixels / scaled_decode.best.seconds / (double(dct_grid.read_size) * dct_grid.read_size);
  const double parallel_floor =
      parallel_pixels / parallel_decode.best.seconds / (double(dct_grid.read_size) * dct_grid.read_size);

  if (ours_lanczos.failed || ours_dct.failed || vips.failed || (have_python && python.failed)) {
    std::fprintf(stderr, "a run failed: tessera lanczos3 %d, tessera dct-scaled %d, vips %d, python %d; logs in %s\n",
                 ours_lanczos.failed, ours_dct.failed, vips.failed, python.failed, work.c_str());
    return 1;
  }
  const double lanczos_rate = double(lanczos_grid.size()) / ours_lanczos.best.seconds;
  const double dct_rate = double(dct_grid.size()) / ours_dct.best.seconds;
  const double vips_rate = double(vips_tiles) / vips.best.seconds;
  const double python_rate = have_python ? double(python_tiles) / python.best.seconds : 0;
  std::printf("\nfastest of %d rounds (slowest in brackets)\n%-44s %16s %10s %12s\n", rounds, "run (every tile kept)",
              "seconds", "tiles/s", "peak RSS MiB");
  auto row = [](const char* name, const Fastest& run, double tiles) {
    std::printf("%-44s %6.2f (%6.2f) %10.1f %12.1f\n", name, run.best.seconds, run.slowest, tiles / run.best.seconds,
                run.peak_rss_mib);
  };
  row("tessera ingest --resample lanczos3", ours_lanczos, double(lanczos_grid.size()));
  row("tessera ingest --resample dct-scaled", ours_dct, double(dct_grid.size()));
  row("vips reduce + dzsave --depth one", vips, double(vips_tiles));
  if (have_python) {
    row("openslide-python + PIL Lanczos loop", python, double(python_tiles));
  } else {
    std::printf("%-44s skipped: apt install python3-openslide python3-pil\n", "openslide-python + PIL Lanczos loop");
  }
  std::printf("%-44s %16s %10.1f\n", "decode floor, full size, 1 thread", "", full_floor);
  std::printf("%-44s %16s %10.1f\n",
              ("decode floor, 1/" + std::to_string(dct.decode_scale) + " scale, 1 thread").c_str(), "", scaled_floor);
  std::printf(
      "%-44s %16s %10.1f\n",
      ("decode floor, 1/" + std::to_string(dct.decode_scale) + " scale, " + std::to_string(jobs) + " threads").c_str(),
      "", parallel_floor);

  std::printf("\nratios, dct-scaled (lanczos3):\n");
  std::printf("  vs vips reduce + dzsave:       %.2fx (%.2fx)  target >= 3\n", dct_rate / vips_rate,
              lanczos_rate / vips_rate);
  if (have_python) {
    std::printf("  vs openslide-python + PIL:     %.2fx (%.2fx)  target >= 4\n", dct_rate / python_rate,
                lanczos_rate / python_rate);
  }
  std::printf("  vs its decode floor x %d cores: %.2f  (%.2f)   target >= 0.6\n", jobs,
              dct_rate / (scaled_floor * jobs), lanczos_rate / (full_floor * jobs));
  std::printf("  vs the decode floor measured on %d threads: %.2f (%d threads decode %.2fx one)\n", jobs,
              dct_rate / parallel_floor, jobs, parallel_floor / scaled_floor);
  std::printf("  peak RSS: %.0f MiB (%.0f MiB)  target < 1024\n", ours_dct.peak_rss_mib, ours_lanczos.peak_rss_mib);
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  int side = 30000;
  int jobs = int(std::thread::hardware_concurrency());
  fs::path work = fs::temp_directory_path() / "tessera-bench-ingest";
  fs::path source = find_source();
  double source_mpp = 0;
  int rounds = 3;
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
    else if (flag == "--source-mpp")
      source_mpp = std::atof(argv[i + 1]);
    else if (flag == "--rounds")
      rounds = std::max(1, std::atoi(argv[i + 1]));
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
  if (source_mpp > 0) return forty_x_case(source, work, side, source_mpp, jobs, rounds, tessera);
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
  const auto ours_all = run_measured(ingest_every_tile(tessera, work / "store-all", large, mpp, jobs, {}),
                                     (work / "ingest-all.log").string());
  // 2b. the same with pixels in plain SSTs instead of blob files.
  fs::remove_all(work / "store-sst");
  const auto ours_sst =
      run_measured(ingest_every_tile(tessera, work / "store-sst", large, mpp, jobs, {"--no-blob-files"}),
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
