#include "slide_plan.h"

#include <xxhash.h>

#include <cstdio>
#include <sstream>

#include "base/error.h"
#include "base/thread_limit.h"
#include "slide/tiling_limits.h"

namespace tessera::pipeline {
namespace {

double thumbnail_fraction(stages::ResampleMethod method) {
  return method == stages::ResampleMethod::kDctScaled ? stages::kDctScaledThumbnailFraction : 1;
}

// Everything that changes which tiles are stored or their pixels; a slide whose
// stored hash differs is redone.
std::string ingest_config_hash(const IngestOptions& o, const stages::Resolution& r, const stages::LevelChoice& l,
                               const std::string& prompt_inputs) {
  std::ostringstream text;
  text.precision(17);
  text << "format=1;tile=" << o.tile << ";overlap=" << o.overlap << ";level=" << l.level << ";resample=" << l.resample
       << ";tile_mpp=" << l.tile_mpp << ";mpp=" << r.mpp_x << "," << r.mpp_y << ";thumb=" << o.tissue.thumbnail_side
       << ";min_sat=" << o.tissue.min_saturation << ";max_dark=" << o.tissue.max_dark
       << ";median=" << o.tissue.median_passes << ";smooth=" << o.tissue.fluorescence_smoothing_um
       << ";min_tissue=" << o.filter.min_tissue << ";max_background=" << o.filter.max_background
       << ";max_pen=" << o.filter.max_pen << ";min_blur=" << o.filter.min_blur_variance
       << ";white=" << o.filter.white_level << ";dark=" << o.filter.dark_level << ";jpeg=" << o.jpeg.quality << ","
       << o.jpeg.full_chroma << "," << o.jpeg.fast_dct << ";prompts=" << prompt_inputs;
  // Appended only for the method that came later, so that slides stored with
  // Lanczos3 before it existed stay current.
  if (o.resample != stages::ResampleMethod::kLanczos3) {
    text << ";resampling=" << stages::to_string(o.resample) << ";decode_scale=" << l.decode_scale
         << ";thumb_fraction=" << thumbnail_fraction(o.resample);
  }
  const std::string s = text.str();
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits(s.data(), s.size()));
  return hex;
}

}  // namespace

stages::ResolutionOptions resolution_options(const stages::SlideSource& source, const IngestOptions& options,
                                             const std::map<std::string, double>& mpp_overrides) {
  stages::ResolutionOptions resolution;
  resolution.assumed_mpp = options.assume_mpp;
  if (const auto it = mpp_overrides.find(source.id); it != mpp_overrides.end()) resolution.override_mpp = it->second;
  return resolution;
}

OpenedSlide open_slide(const stages::SlideSource& source, const IngestOptions& options,
                       const std::map<std::string, double>& mpp_overrides, const PromptContext* prompts) {
  return place_slide(source, stages::Slide::open(source), options, mpp_overrides, prompts);
}

OpenedSlide place_slide(const stages::SlideSource& source, std::shared_ptr<stages::Slide> slide,
                        const IngestOptions& options, const std::map<std::string, double>& mpp_overrides,
                        const PromptContext* prompts) {
  OpenedSlide opened;
  opened.source = source;
  opened.slide = std::move(slide);
  try {
    opened.resolution =
        stages::resolve_resolution(opened.slide->properties(), resolution_options(source, options, mpp_overrides));
    const double base_mpp = opened.resolution.mpp_x;
    double target = options.mpp.value_or(0.5);
    if (options.magnification) {
      target = stages::target_mpp_for_magnification(*options.magnification, base_mpp, opened.slide->objective_power());
    }
    opened.level = stages::choose_level(opened.slide->levels(), base_mpp, target, options.level_tolerance);
    if (options.resample == stages::ResampleMethod::kDctScaled) {
      opened.level = stages::with_decode_scale(opened.level, opened.slide->largest_decode_scale(opened.level.level),
                                               base_mpp, options.level_tolerance);
    }
    const auto& level0 = opened.slide->levels()[0];
    opened.grid = stages::make_tile_grid(level0.width, level0.height, opened.level, options.tile, options.overlap);
  } catch (const Error& e) {
    throw Error(source.path + ": " + e.what());
  }
  if (prompts) opened.prompts = prompts->for_slide(source.id);
  if (opened.prompts.attributes) {
    const auto& level0 = opened.slide->levels()[0];
    stages::check_patches_on_slide(*opened.prompts.attributes, source.id, opened.resolution.mpp_x, level0.width,
                                   level0.height);
  }
  opened.config_hash = ingest_config_hash(options, opened.resolution, opened.level, opened.prompts.inputs_hash);
  return opened;
}

void check_grid_size(const OpenedSlide& opened, const IngestOptions& options) {
  const auto& grid = opened.grid;
  if (options.allow_large_grid || grid.size() <= stages::kMaxGridTilesUnconfirmed) return;
  const auto& level0 = opened.slide->levels()[0];
  const auto without_overlap = stages::make_tile_grid(level0.width, level0.height, opened.level, options.tile, 0);
  std::ostringstream message;
  message << opened.source.path << ": --tile " << options.tile << " --overlap " << options.overlap << " at "
          << opened.level.tile_mpp << " um/px makes a grid of " << grid.cols << " x " << grid.rows << " = "
          << grid.size() << " tiles (" << without_overlap.size() << " without overlap), more than the "
          << stages::kMaxGridTilesUnconfirmed << " a slide may have without --allow-large-grid";
  throw Error(message.str());
}

store::SlideRecord pending_record(const OpenedSlide& opened, const IngestOptions& options) {
  store::SlideRecord r;
  const auto& slide = *opened.slide;
  r.id = opened.source.id;
  r.path = opened.source.path;
  r.quickhash = slide.quickhash();
  r.vendor = slide.format();
  r.width = slide.levels()[0].width;
  r.height = slide.levels()[0].height;
  r.level_count = int(slide.levels().size());
  r.mpp_x = opened.resolution.mpp_x;
  r.mpp_y = opened.resolution.mpp_y;
  r.mpp_source = opened.resolution.source;
  r.level = opened.level.level;
  r.level_downsample = opened.level.level_downsample;
  r.decode_scale = opened.level.decode_scale;
  r.resample = opened.level.resample;
  r.resampling = stages::to_string(options.resample);
  r.tile_mpp = opened.level.tile_mpp;
  r.tile_size = options.tile;
  r.overlap = options.overlap;
  r.grid_cols = opened.grid.cols;
  r.grid_rows = opened.grid.rows;
  r.tiles_total = int64_t(opened.grid.size());
  r.codec = options.jpeg.full_chroma ? "jpeg-444" : "jpeg-420";
  r.codec_quality = options.jpeg.quality;
  r.config_hash = opened.config_hash;
  r.case_id = opened.prompts.case_id;
  r.report_origin = opened.prompts.report_origin;
  for (const auto rule : stages::kRejectionRules) r.rejected[stages::to_string(rule)] = 0;
  r.status = store::SlideStatus::kPending;
  return r;
}

std::unique_ptr<SlidePlan> plan_slide(OpenedSlide opened, const IngestOptions& options) {
  auto plan = std::make_unique<SlidePlan>();
  plan->started = std::chrono::steady_clock::now();
  plan->record = pending_record(opened, options);
  auto thumbnail = stages::read_thumbnail(*opened.slide, options.tissue.thumbnail_side, threads_or_cores(options.jobs),
                                          thumbnail_fraction(options.resample));
  auto mask = stages::compute_tissue_mask(thumbnail.image, thumbnail.scale_x, thumbnail.scale_y,
                                          opened.resolution.mpp_x * thumbnail.scale_x, options.tissue);
  plan->record.tissue_method = mask.method;
  plan->record.tissue_threshold = mask.threshold;
  plan->dark_background = mask.dark_background;

  const auto& grid = opened.grid;
  plan->qc_tiles.reserve(grid.size());
  for (uint32_t row = 0; row < grid.rows; ++row) {
    for (uint32_t col = 0; col < grid.cols; ++col) {
      const auto cell = grid.cell(row, col);
      const double tissue = mask.fraction(cell.x, cell.y, grid.extent, grid.extent);
      const bool read = tissue >= options.filter.min_tissue;
      plan->qc_tiles.push_back(
          {cell.x, cell.y, grid.extent, read ? stages::FilterRule::kKept : stages::FilterRule::kTissue});
      if (read) {
        plan->cells.push_back(cell);
        plan->cell_tissue.push_back(float(tissue));
      } else {
        ++plan->record.rejected[stages::to_string(stages::FilterRule::kTissue)];
      }
    }
  }
  if (options.write_qc) {
    plan->qc_base = std::async(std::launch::async, [thumbnail = std::move(thumbnail), mask = std::move(mask)] {
      return stages::make_qc_base(thumbnail.image, mask, stages::kQcSide);
    });
  }
  plan->opened = std::move(opened);
  return plan;
}

}  // namespace tessera::pipeline
