#include "pipeline/probe.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <optional>
#include <set>

#include "base/error.h"
#include "base/thread_limit.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "slide/dicom_series.h"
#include "slide/slide_discovery.h"
#include "slide/slide_format.h"
#include "slide/thumbnail.h"
#include "slide/tile_reader.h"
#include "slide/tissue_mask.h"
#include "slide_plan.h"

namespace tessera::pipeline {
namespace {

using Clock = std::chrono::steady_clock;

bool only_associated_images(const stages::SlideSource& source) {
  if (source.files.empty()) return false;
  std::vector<stages::DicomInstance> instances;
  for (const auto& file : source.files) {
    try {
      instances.push_back(stages::read_dicom_instance(file));
    } catch (const Error&) {
      return false;  // opening it says why
    }
  }
  const auto series = stages::group_dicom_series(std::move(instances));
  return series.size() == 1 && stages::holds_only_associated_images(series.front());
}

// The tissue estimate and the size of one stored tile.
void estimate_tiles(const OpenedSlide& opened, const IngestOptions& options, SlideProbe& probe) {
  const auto thumbnail = stages::read_thumbnail(*opened.slide, options.tissue.thumbnail_side);
  const auto mask = stages::compute_tissue_mask(thumbnail.image, thumbnail.scale_x, thumbnail.scale_y,
                                                opened.resolution.mpp_x * thumbnail.scale_x, options.tissue);
  probe.tissue_fraction = mask.tissue_fraction();
  const auto& grid = opened.grid;
  double best = -1;
  stages::GridCell richest;
  for (uint32_t row = 0; row < grid.rows; ++row) {
    for (uint32_t col = 0; col < grid.cols; ++col) {
      const auto cell = grid.cell(row, col);
      const double tissue = mask.fraction(cell.x, cell.y, grid.extent, grid.extent);
      if (tissue >= options.filter.min_tissue) ++probe.tiles_estimated;
      if (tissue > best) {
        best = tissue;
        richest = cell;
      }
    }
  }
  if (probe.tiles_estimated == 0) return;
  const auto tile = stages::read_tile(*opened.slide, opened.level.level, grid, richest);
  probe.bytes_estimated = probe.tiles_estimated * stages::encode_jpeg(tile, options.jpeg).size();
}

SlideProbe probe_slide(const stages::SlideSource& source, const IngestOptions& options,
                       const std::map<std::string, double>& overrides) {
  const auto started = Clock::now();
  SlideProbe probe;
  probe.id = source.id;
  probe.path = source.path;
  probe.files = source.files;
  const auto problem = [&](ProbeProblem kind, const std::string& message) {
    probe.problems.emplace_back(kind, message);
  };
  std::shared_ptr<stages::Slide> slide;
  try {
    slide = stages::Slide::open(source);
  } catch (const stages::UnsupportedFormatError& e) {
    problem(ProbeProblem::kUnsupported, e.what());
  } catch (const Error& e) {
    problem(only_associated_images(source) ? ProbeProblem::kAssociatedImage : ProbeProblem::kUnreadable, e.what());
  }
  if (slide) {
    probe.vendor = slide->format();
    probe.levels = slide->levels();
    for (const auto& warning : slide->warnings()) problem(ProbeProblem::kReaderWarning, warning);
    try {
      const auto resolution =
          stages::resolve_resolution(slide->properties(), resolution_options(source, options, overrides));
      probe.mpp_x = resolution.mpp_x;
      probe.mpp_y = resolution.mpp_y;
      probe.mpp_source = resolution.source;
    } catch (const Error& e) {
      problem(ProbeProblem::kNoMpp, e.what());
    }
  }
  std::optional<OpenedSlide> opened;
  if (slide && probe.mpp_x > 0) {
    try {
      opened = place_slide(source, slide, options, overrides, nullptr);
      probe.level = opened->level.level;
      probe.level_downsample = opened->level.level_downsample;
      probe.decode_scale = opened->level.decode_scale;
      probe.resample = opened->level.resample;
      probe.tile_mpp = opened->level.tile_mpp;
      probe.read_path = stages::to_string(slide->read_path(opened->level.level));
      probe.grid_cols = opened->grid.cols;
      probe.grid_rows = opened->grid.rows;
      probe.tiles_total = opened->grid.size();
      check_grid_size(*opened, options);
    } catch (const Error& e) {
      problem(ProbeProblem::kCannotTile, e.what());
      opened.reset();
    }
  }
  if (opened) {
    try {
      estimate_tiles(*opened, options, probe);
    } catch (const Error& e) {
      problem(ProbeProblem::kUnreadable, e.what());
    }
  }
  probe.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return probe;
}

std::string format_mpp(double mpp) {
  char text[64];
  std::snprintf(text, sizeof text, "%.3g um/px (about %.0fx)", mpp, stages::kMppTimesObjective / mpp);
  return text;
}

void flag_unusual_magnifications(ProbeReport& report) {
  std::vector<double> mpps;
  for (const auto& s : report.slides) {
    if (s.mpp_x > 0) mpps.push_back(s.mpp_x);
  }
  if (mpps.size() < kMinSlidesForUsualMpp) return;
  std::nth_element(mpps.begin(), mpps.begin() + long(mpps.size() / 2), mpps.end());
  report.median_mpp = mpps[mpps.size() / 2];
  for (auto& s : report.slides) {
    if (s.mpp_x <= 0) continue;
    const double ratio = s.mpp_x / report.median_mpp;
    if (ratio > kUnusualMppRatio || ratio < 1 / kUnusualMppRatio) {
      s.problems.emplace_back(
          ProbeProblem::kUnusualMagnification,
          "level 0 is " + format_mpp(s.mpp_x) + "; the cohort's usual is " + format_mpp(report.median_mpp));
    }
  }
}

}  // namespace

const char* to_string(ProbeProblem problem) {
  switch (problem) {
    case ProbeProblem::kUnreadable:
      return "unreadable";
    case ProbeProblem::kUnsupported:
      return "unsupported";
    case ProbeProblem::kNoMpp:
      return "no_mpp";
    case ProbeProblem::kDuplicateId:
      return "duplicate_id";
    case ProbeProblem::kAssociatedImage:
      return "associated_image";
    case ProbeProblem::kCannotTile:
      return "cannot_tile";
    case ProbeProblem::kUnusualMagnification:
      return "unusual_magnification";
    case ProbeProblem::kReaderWarning:
      return "reader_warning";
  }
  return "unreadable";
}

bool blocks_ingest(ProbeProblem problem) {
  return problem != ProbeProblem::kUnusualMagnification && problem != ProbeProblem::kReaderWarning;
}

bool SlideProbe::would_ingest() const {
  return std::none_of(problems.begin(), problems.end(), [](const auto& p) { return blocks_ingest(p.first); });
}

ProbeReport run_probe(const ProbeOptions& options) {
  const auto started = Clock::now();
  stages::ensure_vips();
  const auto sources = stages::discover_slides(options.paths);
  std::map<std::string, double> overrides;
  if (!options.ingest.mpp_overrides_csv.empty()) {
    overrides = stages::read_mpp_overrides(options.ingest.mpp_overrides_csv);
  }
  IngestOptions ingest = options.ingest;
  ingest.tissue.thumbnail_side = std::min(ingest.tissue.thumbnail_side, kProbeThumbnailSide);

  ProbeReport report;
  report.slides.resize(sources.size());
  const int jobs = threads_or_cores(options.jobs);
  Progress progress(resolve_mode(options.progress), 1, std::chrono::seconds(10), ProgressUnits{"slides", ""});
  progress.slide_planned(sources.size());
  tbb::task_arena arena(jobs);
  arena.execute([&] {
    tbb::parallel_for(size_t{0}, sources.size(), [&](size_t i) {
      report.slides[i] = probe_slide(sources[i], ingest, overrides);
      progress.tiles_done(1);
    });
  });
  progress.finish();

  std::map<std::string, std::string> first_path;
  for (auto& s : report.slides) {
    const auto [it, inserted] = first_path.emplace(s.id, s.path);
    if (!inserted) {
      s.problems.emplace_back(ProbeProblem::kDuplicateId, "slide id '" + s.id + "' is also the id of " + it->second +
                                                              "; ingest would fail this one: rename one of them");
    }
  }
  flag_unusual_magnifications(report);
  for (const auto& s : report.slides) {
    ++report.formats[s.vendor];
    std::set<std::string> kinds;
    for (const auto& [kind, message] : s.problems) kinds.insert(to_string(kind));
    for (const auto& kind : kinds) ++report.problems[kind];
    if (s.would_ingest()) {
      ++report.would_ingest;
      report.tiles_estimated += s.tiles_estimated;
      report.bytes_estimated += s.bytes_estimated;
    }
  }
  report.seconds = std::chrono::duration<double>(Clock::now() - started).count();
  return report;
}

}  // namespace tessera::pipeline
