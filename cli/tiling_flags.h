#pragma once

#include <CLI/CLI.hpp>
#include <string>

#include "base/error.h"
#include "flag_checks.h"
#include "pipeline/ingest_options.h"
#include "slide/resample_method.h"
#include "slide/resolution.h"
#include "slide/tiling_limits.h"

namespace tessera::cli {

// How slides are cut into tiles: the flags `ingest` and `probe` share, so that
// a probe answers for the ingest run with the same flags.
// A µm/px a slide could have (stages::kMinPlausibleMpp..kMaxPlausibleMpp).
inline CLI::Validator plausible_mpp() { return number_within(stages::kMinPlausibleMpp, stages::kMaxPlausibleMpp); }

inline void add_tiling_flags(CLI::App* cmd, pipeline::IngestOptions& o) {
  auto* mpp = cmd->add_option("--mpp", o.mpp, "Target microns per pixel (default 0.5)")->check(plausible_mpp());
  cmd->add_option("--magnification", o.magnification, "Target magnification, e.g. 20 (instead of --mpp)")
      ->check(positive_up_to(pipeline::kMaxMagnification))
      ->excludes(mpp);
  cmd->add_option("--tile", o.tile, "Tile side in pixels")
      ->capture_default_str()
      ->check(number_within(stages::kMinTileSize, stages::kMaxTileSize));
  // At most the largest tile's side less one; the callback holds it below --tile.
  cmd->add_option("--overlap", o.overlap, "Overlap between neighbouring tiles in pixels, less than --tile")
      ->capture_default_str()
      ->check(number_within(0, stages::kMaxTileSize - 1));
  cmd->add_option("--assume-mpp", o.assume_mpp, "Microns per pixel for slides whose files record none")
      ->check(plausible_mpp());
  cmd->add_option("--mpp-overrides", o.mpp_overrides_csv,
                  "CSV with columns slide,mpp, used for slides whose files record no resolution")
      ->check(CLI::ExistingFile);
  cmd->add_option("--level-tolerance", o.level_tolerance,
                  "Use a level's native pixels when within this relative distance of the target")
      ->capture_default_str()
      ->check(number_within(0.0, pipeline::kMaxLevelTolerance, RangeEnds::kOpenAbove));
  cmd->add_option_function<std::string>(
         "--resample", [&o](const std::string& name) { o.resample = stages::resample_method_from_string(name); },
         "Between levels: lanczos3 (libvips from full resolution) or dct-scaled (JPEG levels decoded at 1/2, 1/4 or "
         "1/8 by the inverse DCT, several times faster; docs/BENCHMARKS.md has its quality)")
      ->default_str(stages::to_string(stages::kDefaultResampleMethod))
      ->check(CLI::Validator(
          [](const std::string& name) -> std::string {
            try {
              stages::resample_method_from_string(name);
              return {};
            } catch (const Error& e) {
              return e.what();
            }
          },
          "METHOD"));
}

// What the flags cannot check one by one.
inline void check_tiling_flags(const pipeline::IngestOptions& o) {
  if (o.overlap >= o.tile) {
    throw CLI::ValidationError(
        "--overlap", "must be less than --tile (" + std::to_string(o.tile) + "), got " + std::to_string(o.overlap));
  }
}

}  // namespace tessera::cli
