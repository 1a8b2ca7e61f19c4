#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include <cstdio>
#include <iostream>
#include <memory>

#include "cli/commands.h"
#include "store/store.h"

namespace tessera::cli {
namespace {

// The stable JSON of one slide; field names are part of tessera's interface
// (schemas/info.schema.json).
nlohmann::json slide_json(const store::SlideRecord& r) {
  return {
      {"id", r.id},
      {"path", r.path},
      {"status", store::to_string(r.status)},
      {"error", r.error},
      {"vendor", r.vendor},
      {"width", r.width},
      {"height", r.height},
      {"mpp", r.mpp_x},
      {"mpp_x", r.mpp_x},
      {"mpp_y", r.mpp_y},
      {"mpp_source", r.mpp_source},
      {"level", r.level},
      {"level_downsample", r.level_downsample},
      {"resample", r.resample},
      {"tile_mpp", r.tile_mpp},
      {"tile_size", r.tile_size},
      {"overlap", r.overlap},
      {"grid_cols", r.grid_cols},
      {"grid_rows", r.grid_rows},
      {"tiles_kept", r.tiles_kept},
      {"tiles_total", r.tiles_total},
      {"rejected", r.rejected},
      {"tissue_method", r.tissue_method},
      {"tissue_threshold", r.tissue_threshold},
      {"codec", r.codec},
      {"codec_quality", r.codec_quality},
      {"quickhash", r.quickhash},
      {"config_hash", r.config_hash},
      {"seconds", r.seconds},
      {"finished_at", r.finished_at},
  };
}

std::string rejected_text(const store::SlideRecord& r) {
  std::string text;
  for (const auto& [rule, count] : r.rejected) {
    if (!text.empty()) text += ' ';
    text += rule + "=" + std::to_string(count);
  }
  return text;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string store;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("info", "Show the slides in a store (works while an ingest is running)");
  cmd->add_option("--store", flags->store, "Store directory")->required();
  cmd->add_flag("--json", flags->json, "Machine-readable output with stable field names");
  cmd->callback([flags, &exit_code] {
    store::StoreOptions options;
    options.read_only = true;
    const auto store = store::Store::open(flags->store, options);
    const auto slides = store->slides();
    size_t complete = 0, failed = 0, pending = 0;
    int64_t tiles = 0;
    for (const auto& s : slides) {
      complete += s.status == store::SlideStatus::kComplete;
      failed += s.status == store::SlideStatus::kFailed;
      pending += s.status == store::SlideStatus::kPending;
      tiles += s.status == store::SlideStatus::kComplete ? s.tiles_kept : 0;
    }
    if (flags->json) {
      nlohmann::json out = {{"store", flags->store}, {"schema_version", store::kSchemaVersion}};
      out["slides"] = nlohmann::json::array();
      for (const auto& s : slides) out["slides"].push_back(slide_json(s));
      out["totals"] = {{"slides", slides.size()},
                       {"complete", complete},
                       {"failed", failed},
                       {"pending", pending},
                       {"tiles", tiles}};
      std::cout << out.dump(2) << '\n';
    } else {
      std::printf("store %s (schema %d): %zu slides, %zu complete, %zu failed, %zu pending; %lld tiles\n",
                  flags->store.c_str(), store::kSchemaVersion, slides.size(), complete, failed, pending,
                  (long long)tiles);
      for (const auto& s : slides) {
        std::printf("%-40s %-8s", s.id.c_str(), store::to_string(s.status));
        if (s.status == store::SlideStatus::kFailed) {
          std::printf(" %s\n", s.error.c_str());
          continue;
        }
        std::printf(" %.4f um/px (%s) level %d x%.3g -> %.4f um/px, %lld/%lld tiles kept; rejected %s\n", s.mpp_x,
                    s.mpp_source.c_str(), s.level, s.level_downsample * s.resample, s.tile_mpp,
                    (long long)s.tiles_kept, (long long)s.tiles_total, rejected_text(s).c_str());
      }
    }
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
