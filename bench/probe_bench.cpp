// bench/probe: `tessera probe` over a cohort on the local disk, in slides per
// second: --slides Aperio-like pyramids (levels at 1x, 4x and 16x, hard links
// of one synthetic slide under distinct ids) and --series DICOM series of
// their own, each opened, its thumbnail read and one tile encoded.
//
//   build/bench/probe [--slides N] [--series M] [--side PX] [--jobs J]
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_support.h"
#include "examples/dicom_series_writer.h"
#include "examples/synthetic_slide.h"

namespace fs = std::filesystem;

namespace {

struct Args {
  int slides = 1000;
  int series = 20;
  int side = 16384;
  int jobs = 2;
};

Args parse(int argc, char** argv) {
  Args a;
  tessera::bench::parse_int_flags(
      argc, argv, {{"--slides", &a.slides}, {"--series", &a.series}, {"--side", &a.side}, {"--jobs", &a.jobs}},
      "bench/probe [--slides N] [--series M] [--side PX] [--jobs J]");
  return a;
}

double probe_seconds(const fs::path& cohort, int jobs, const fs::path& log) {
  const auto run = tessera::bench::run_measured(
      {TESSERA_BINARY, "probe", cohort.string(), "--json", "--progress", "quiet", "--jobs", std::to_string(jobs)},
      log.string());
  if (run.exit_code != 0) {
    std::fprintf(stderr, "probe exited %d; see %s\n", run.exit_code, log.c_str());
    std::exit(1);
  }
  return run.seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const fs::path work = fs::temp_directory_path() / ("tessera-bench-probe-" + std::to_string(getpid()));
  fs::create_directories(work / "tiff");
  tessera::examples::SyntheticSlideSpec spec;
  spec.width = spec.height = args.side;
  spec.level_downsamples = {1, 4, 16};
  const fs::path first = work / "tiff" / "BENCH-00000.tiff";
  tessera::examples::write_synthetic_slide(first.string(), spec);
  for (int i = 1; i < args.slides; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "BENCH-%05d.tiff", i);
    fs::create_hard_link(first, work / "tiff" / name);
  }
  tessera::examples::SyntheticSlideSpec small = spec;
  small.width = small.height = 4096;
  small.level_downsamples = {1};
  const fs::path source = work / "series-source.tiff";
  tessera::examples::write_synthetic_slide(source.string(), small);
  const auto pixels = tessera::examples::read_level0(source.string());
  tessera::examples::DicomSeriesSpec series;
  series.downsamples = {1, 4, 16};
  for (int i = 0; i < args.series; ++i) {
    tessera::examples::write_dicom_series(pixels, (work / "dicom" / ("SERIES-" + std::to_string(i))).string(), series);
  }
  std::printf(
      "probe bench: %d pyramidal TIFFs of %d x %d px (levels 1x, 4x, 16x) and %d DICOM series of 4096 x "
      "4096 px, %d jobs\n",
      args.slides, args.side, args.side, args.series, args.jobs);
  const double tiff_seconds = probe_seconds(work / "tiff", args.jobs, work / "probe-tiff.log");
  std::printf("  TIFF:  %d slides in %.2f s: %.0f slides/s\n", args.slides, tiff_seconds, args.slides / tiff_seconds);
  if (args.series > 0) {
    const double dicom_seconds = probe_seconds(work / "dicom", args.jobs, work / "probe-dicom.log");
    std::printf("  DICOM: %d series in %.2f s: %.0f slides/s\n", args.series, dicom_seconds,
                args.series / dicom_seconds);
  }
  fs::remove_all(work);
  return 0;
}
