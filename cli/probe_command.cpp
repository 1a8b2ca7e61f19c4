#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "pipeline/probe.h"
#include "run_flags.h"
#include "tiling_flags.h"

namespace tessera::cli {
namespace {

// schemas/probe.schema.json: the field names of `info --json` where the two
// say the same thing.
nlohmann::json slide_json(const pipeline::SlideProbe& s) {
  nlohmann::json levels = nlohmann::json::array();
  for (const auto& l : s.levels)
    levels.push_back({{"width", l.width}, {"height", l.height}, {"downsample", l.downsample}});
  nlohmann::json problems = nlohmann::json::array();
  for (const auto& [kind, message] : s.problems) {
    problems.push_back({{"problem", pipeline::to_string(kind)}, {"message", message}});
  }
  return {{"id", s.id},
          {"path", s.path},
          {"files", s.files},
          {"vendor", s.vendor},
          {"read_path", s.read_path},
          {"width", s.levels.empty() ? 0 : s.levels[0].width},
          {"height", s.levels.empty() ? 0 : s.levels[0].height},
          {"level_count", s.levels.size()},
          {"levels", levels},
          {"mpp", s.mpp_x},
          {"mpp_x", s.mpp_x},
          {"mpp_y", s.mpp_y},
          {"mpp_source", s.mpp_source},
          {"level", s.level},
          {"level_downsample", s.level_downsample},
          {"decode_scale", s.decode_scale},
          {"resample", s.resample},
          {"resampled", s.resample != 1},
          {"tile_mpp", s.tile_mpp},
          {"grid_cols", s.grid_cols},
          {"grid_rows", s.grid_rows},
          {"tiles_total", s.tiles_total},
          {"tissue_fraction", s.tissue_fraction},
          {"tiles_estimated", s.tiles_estimated},
          {"bytes_estimated", s.bytes_estimated},
          {"problems", problems},
          {"would_ingest", s.would_ingest()},
          {"seconds", s.seconds}};
}

nlohmann::json report_json(const pipeline::ProbeReport& r) {
  nlohmann::json slides = nlohmann::json::array();
  for (const auto& s : r.slides) slides.push_back(slide_json(s));
  return {{"slides", slides},
          {"totals",
           {{"slides", r.slides.size()},
            {"would_ingest", r.would_ingest},
            {"would_fail", r.slides.size() - r.would_ingest},
            {"formats", r.formats},
            {"problems", r.problems},
            {"median_mpp", r.median_mpp},
            {"tiles_estimated", r.tiles_estimated},
            {"bytes_estimated", r.bytes_estimated},
            {"seconds", r.seconds}}}};
}

std::string counts_text(const std::map<std::string, size_t>& counts) {
  std::string text;
  for (const auto& [name, count] : counts) {
    text += (text.empty() ? "" : ", ") + (name.empty() ? std::string("unopened") : name) + " " + std::to_string(count);
  }
  return text.empty() ? "none" : text;
}

void print_slide(const pipeline::SlideProbe& s) {
  std::printf("%s  %s  %s\n", s.id.c_str(), s.vendor.empty() ? "-" : s.vendor.c_str(), s.path.c_str());
  if (!s.levels.empty()) {
    std::printf("  %zu levels, level 0 %lld x %lld", s.levels.size(), static_cast<long long>(s.levels[0].width),
                static_cast<long long>(s.levels[0].height));
    if (s.mpp_x > 0) std::printf(" at %.4g um/px (%s)", s.mpp_x, s.mpp_source.c_str());
    std::printf("\n");
  }
  if (s.tiles_total > 0) {
    std::printf("  reads level %d (%s, downsample %.4g", s.level, s.read_path.c_str(), s.level_downsample);
    if (s.decode_scale > 1) std::printf(", decoded at 1/%d", s.decode_scale);
    if (s.resample != 1) {
      std::printf(", resampled by %.4g", s.resample);
    } else {
      std::printf(", not resampled");
    }
    std::printf(") to %.4g um/px: grid %u x %u = %llu tiles; tissue %.0f%%, about %llu tiles, %.1f MB\n", s.tile_mpp,
                s.grid_cols, s.grid_rows, static_cast<unsigned long long>(s.tiles_total), 100 * s.tissue_fraction,
                static_cast<unsigned long long>(s.tiles_estimated), double(s.bytes_estimated) / 1e6);
  }
  for (const auto& [kind, message] : s.problems) std::printf("  %s: %s\n", pipeline::to_string(kind), message.c_str());
}

}  // namespace

void add_probe_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::ProbeOptions options;
    std::string progress = "auto";
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "probe",
      "Check a cohort before ingesting it: open every slide, estimate its tiles, list what would fail. "
      "Writes nothing; exit 0 when every slide would ingest, 3 otherwise");
  auto& o = flags->options;
  cmd->add_option("paths", o.paths, "Slide files or folders, as ingest's --slides")->required();
  add_tiling_flags(cmd, o.ingest);
  add_jobs_flag(cmd, o.jobs, "Slides probed at once");
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print the report as JSON on stdout, with stable field names");
  cmd->callback([flags, &exit_code] {
    check_tiling_flags(flags->options.ingest);
    flags->options.progress = pipeline::parse_progress_display(flags->progress);
    const auto report = pipeline::run_probe(flags->options);
    if (flags->json) {
      std::cout << report_json(report).dump(2) << std::endl;
    } else {
      for (const auto& s : report.slides) print_slide(s);
      std::fflush(stdout);
    }
    const size_t failing = report.slides.size() - report.would_ingest;
    std::cerr << "probe: " << report.slides.size() << " slides (" << counts_text(report.formats)
              << "): " << report.would_ingest << " would ingest, " << failing
              << " would fail; problems: " << counts_text(report.problems) << "; about " << report.tiles_estimated
              << " tiles, " << double(report.bytes_estimated) / 1e6 << " MB of tile pixels, in "
              << pipeline::format_duration(report.seconds) << '\n';
    exit_code = failing == 0 ? kExitOk : kExitSlidesFailed;
  });
}

}  // namespace tessera::cli
