#include <spdlog/sinks/stdout_color_sinks.h>
#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <cstdint>
#include <iostream>
#include <limits>
#include <memory>

#include "commands.h"
#include "flag_checks.h"
#include "pipeline/export.h"
#include "pipeline/progress.h"
#include "run_flags.h"

namespace tessera::cli {

void add_export_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::ExportOptions options;
    std::string format;
    std::string split_by = "case";
    std::string progress = "auto";
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "export", "Write the store's tiles (and generated ones) as an ImageFolder tree or WebDataset shards");
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory")->required();
  cmd->add_option("--out", o.out, "Output folder (must be empty, or an earlier export with --overwrite)")->required();
  cmd->add_option("--format", flags->format, "Output layout")
      ->required()
      ->check(CLI::IsMember({"imagefolder", "webdataset"}));
  cmd->add_option("--synthetic", o.synthetic, "Folders of generated tiles with a manifest.jsonl (train only)");
  cmd->add_option("--split-by", flags->split_by, "What goes to val as a whole")
      ->check(CLI::IsMember({"case", "slide", "none"}))
      ->capture_default_str();
  cmd->add_option("--val", o.val, "Fraction of the cases (or slides) in val")
      ->capture_default_str()
      ->check(number_within(0.0, 1.0, RangeEnds::kOpenAbove));
  cmd->add_option("--seed", o.seed, "Seed of the split")->capture_default_str()->check(any_seed());
  cmd->add_option("--label", o.label,
                  "Class of each sample: tumor, til, case or slide (default: none, one class 'all')")
      ->check(CLI::IsMember({"tumor", "til", "case", "slide"}));
  // A shard is one file, whose size is a signed 64-bit offset.
  cmd->add_option("--shard-bytes", o.shard_bytes, "Largest WebDataset shard in bytes (a larger sample gets its own)")
      ->capture_default_str()
      ->check(number_within<uint64_t>(1, std::numeric_limits<int64_t>::max()));
  cmd->add_flag("--overwrite", o.overwrite, "Replace an earlier export in --out");
  cmd->add_flag("--json", flags->json, "Print dataset.json to stdout");
  add_progress_flag(cmd, flags->progress);

  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    using Options = pipeline::ExportOptions;
    o.format = flags->format == "webdataset" ? Options::Format::kWebDataset : Options::Format::kImageFolder;
    if (flags->split_by == "slide") o.split_by = Options::SplitBy::kSlide;
    if (flags->split_by == "none") o.split_by = Options::SplitBy::kNone;
    o.progress = pipeline::parse_progress_display(flags->progress);
    if (flags->json) {
      // stdout carries the JSON alone; the log moves to stderr.
      auto logger = spdlog::stderr_color_mt("tessera-export");
      logger->set_pattern("%Y-%m-%dT%H:%M:%S %l %v");
      spdlog::set_default_logger(logger);
    }
    const auto summary = pipeline::run_export(o);
    if (summary.interrupted) {
      std::cerr << "export: interrupted; " << o.out.string()
                << " has no dataset.json; run the same command with --overwrite to export again\n";
      exit_code = kExitInterrupted;
      return;
    }
    std::cerr << "export: " << summary.real + summary.synthetic << " samples (" << summary.real << " real, "
              << summary.synthetic << " synthetic): " << summary.splits.at("train") << " train, "
              << summary.splits.at("val") << " val";
    if (o.format == Options::Format::kWebDataset) std::cerr << ", " << summary.shards.size() << " shards";
    std::cerr << ", in " << pipeline::format_duration(summary.seconds) << " -> " << o.out.string() << '\n';
    if (flags->json) std::cout << summary.dataset_json << '\n';
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
