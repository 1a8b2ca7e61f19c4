#pragma once

#include <chrono>
#include <future>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/ingest_options.h"
#include "pipeline/prompt_context.h"
#include "slide/level_choice.h"
#include "slide/qc_overlay.h"
#include "slide/resolution.h"
#include "slide/slide.h"
#include "slide/slide_discovery.h"
#include "slide/thumbnail.h"
#include "slide/tile_grid.h"
#include "slide/tissue_mask.h"
#include "store/slide_record.h"

namespace tessera::pipeline {

// An opened slide with its resolution and level resolved: enough to decide
// whether the stored tiles are still current, before any pixels are read.
struct OpenedSlide {
  stages::SlideSource source;
  std::shared_ptr<stages::Slide> slide;
  stages::Resolution resolution;
  stages::LevelChoice level;
  stages::TileGrid grid;
  SlidePrompts prompts;  // empty when the run makes no prompts
  std::string config_hash;
};

// Everything the ingest graph needs to read, filter and store one slide's tiles.
struct SlidePlan {
  OpenedSlide opened;
  bool dark_background = false;  // fluorescence: changes the background rule
  // Thumbnail + contour, at most stages::kQcSide px: drawn while the tiles are
  // read, since only the finished slide's QC picture needs it.
  std::future<stages::QcBase> qc_base;
  std::vector<stages::GridCell> cells;   // inside the mask: these are read
  std::vector<float> cell_tissue;        // mask fraction of each read cell
  std::vector<stages::QcTile> qc_tiles;  // every grid cell's verdict, for the QC picture
  store::SlideRecord record;             // filled in as results arrive
  std::chrono::steady_clock::time_point started;
};

// Throws tessera::Error, naming the file and the numbers, when the slide's
// grid has more than stages::kMaxGridTilesUnconfirmed tiles and the options
// do not allow a large grid.
void check_grid_size(const OpenedSlide& opened, const IngestOptions& options);

// Opens the slide and resolves µm/px, level and grid. Throws tessera::Error.
OpenedSlide open_slide(const stages::SlideSource& source, const IngestOptions& options,
                       const std::map<std::string, double>& mpp_overrides, const PromptContext* prompts);
// The same for a slide already open. Throws tessera::Error naming the file.
OpenedSlide place_slide(const stages::SlideSource& source, std::shared_ptr<stages::Slide> slide,
                        const IngestOptions& options, const std::map<std::string, double>& mpp_overrides,
                        const PromptContext* prompts);
// Where a slide's µm/px may come from besides the file: its row of the
// override CSV, and --assume-mpp.
stages::ResolutionOptions resolution_options(const stages::SlideSource& source, const IngestOptions& options,
                                             const std::map<std::string, double>& mpp_overrides);

// Thumbnail, tissue mask and the cells to read; grid cells outside the mask are
// counted as `tissue` rejections here, without reading them. The thumbnail and
// mask go to the QC base's drawing, and are freed once it is drawn.
std::unique_ptr<SlidePlan> plan_slide(OpenedSlide opened, const IngestOptions& options);

// The record of a slide about to be (re)done: status pending, geometry known.
store::SlideRecord pending_record(const OpenedSlide& opened, const IngestOptions& options);

}  // namespace tessera::pipeline
