#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>

#include "base/error.h"
#include "commands.h"
#include "flag_checks.h"
#include "model_host.h"
#include "pipeline/ingest.h"
#include "pipeline/progress.h"
#include "prompts/prompt_options.h"
#include "run_flags.h"
#include "slide/resolution.h"
#include "slide/tile_filter.h"
#include "slide/tiling_limits.h"
#include "tiling_flags.h"

namespace tessera::cli {
namespace {

nlohmann::json summary_json(const pipeline::IngestSummary& summary) {
  nlohmann::json failures = nlohmann::json::array();
  for (const auto& [path, error] : summary.failures) failures.push_back({{"path", path}, {"error", error}});
  nlohmann::json replaced = nlohmann::json::array();
  for (const auto& r : summary.replaced) {
    replaced.push_back(
        {{"id", r.id}, {"stored_path", r.stored_path}, {"path", r.path}, {"tiles_removed", r.tiles_removed}});
  }
  nlohmann::json encode_failures = nlohmann::json::array();
  for (const auto& [slide, error] : summary.encode_failures)
    encode_failures.push_back({{"id", slide}, {"error", error}});
  return {{"shard", summary.shard},
          {"slides_in_other_shards", summary.slides_in_other_shards},
          {"slides", summary.slides},
          {"complete", summary.complete},
          {"skipped", summary.skipped},
          {"failed", summary.failed},
          {"without_report", summary.without_report},
          {"tiles_read", summary.tiles_read},
          {"tiles_kept", summary.tiles_kept},
          {"failures", failures},
          {"replaced", replaced},
          {"model_id", summary.model_id},
          {"tiles_encoded", summary.tiles_encoded},
          {"encode_failures", encode_failures},
          {"seconds", summary.seconds},
          {"interrupted", summary.interrupted}};
}

}  // namespace

void add_ingest_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::IngestOptions options;
    std::string progress = "auto";
    std::string vae_config, vae_weights, shard;
    RunFlags run;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("ingest",
                                 "Tile and filter slides into a store (resumable; reruns redo only unfinished slides)");
  auto& o = flags->options;
  cmd->add_option("--store", o.store, "Store directory (created if absent)")->required();
  cmd->add_option("--slides", o.slides, "Slide files or folders (folders are scanned for every format OpenSlide opens)")
      ->required();
  add_tiling_flags(cmd, o);
  add_jobs_flag(cmd, o.jobs, "Parallel tile readers");
  cmd->add_option("--qc-dir", o.qc_dir, "Where per-slide QC PNGs go (default STORE/qc)");
  cmd->add_flag("--no-qc{false}", o.write_qc, "Do not write QC pictures");
  add_shard_flag(cmd, flags->shard);
  cmd->add_flag("--force", o.force, "Redo every slide, even complete ones");
  cmd->add_flag("--allow-large-grid", o.allow_large_grid,
                "Cut slides whose grid has more than " + std::to_string(stages::kMaxGridTilesUnconfirmed) +
                    " tiles (a large --overlap multiplies the tiles)");
  cmd->add_flag("--no-blob-files{false}", o.pixel_blob_files,
                "Keep tile pixels in the LSM tree instead of RocksDB blob files (for comparison)");
  cmd->add_option("--jpeg-quality", o.jpeg.quality, "JPEG quality of stored tile pixels")
      ->capture_default_str()
      ->check(number_within(stages::kMinJpegQuality, stages::kMaxJpegQuality));
  cmd->add_option("--min-tissue", o.filter.min_tissue, "Minimum tissue-mask fraction of a tile")
      ->capture_default_str()
      ->check(fraction());
  cmd->add_option("--max-background", o.filter.max_background, "Maximum background fraction of a tile")
      ->capture_default_str()
      ->check(fraction());
  cmd->add_option("--max-pen", o.filter.max_pen, "Maximum pen-ink fraction of a tile")
      ->capture_default_str()
      ->check(fraction());
  cmd->add_option("--min-blur-variance", o.filter.min_blur_variance,
                  "Minimum variance of the Laplacian (lower is out of focus)")
      ->capture_default_str()
      ->check(number_within(0.0, stages::kMaxBlurVariance));
  cmd->add_option("--reports", o.reports, "Pathology reports: CSV, JSONL, or a folder of CASE.txt files");
  cmd->add_option("--report-id-column", o.report_columns.id_column, "Case-id column/key of the reports")
      ->capture_default_str();
  cmd->add_option("--report-text-column", o.report_columns.text_column, "Text column/key of the reports")
      ->capture_default_str();
  cmd->add_option("--summaries", o.summaries,
                  "CSV of user summaries (case id column and 'summary') replacing composed ones");
  auto* case_map =
      cmd->add_option("--case-map", o.case_match.mapping_csv, "CSV with columns slide,case (instead of TCGA barcodes)");
  cmd->add_option("--case-regex", o.case_match.regex, "RE2 regex whose first group is the case id of a slide id")
      ->excludes(case_map);
  cmd->add_option("--tile-attributes", o.tile_attributes,
                  "wsinfer-style CSV: slide,x,y,w,h[,mpp],tumor,til (probabilities per patch)");
  cmd->add_option("--tile-attributes-mpp", o.attribute_options.mpp,
                  "Microns per pixel of the attribute coordinates when the CSV has no mpp column")
      ->check(plausible_mpp());
  cmd->add_option("--template", o.prompt_template, "Prompt template: a name in schemas/templates or a file")
      ->capture_default_str();
  cmd->add_option("--token-budget", o.token_budget, "Maximum CLIP tokens per prompt, start and end included")
      ->capture_default_str()
      ->check(number_within(stages::kMinTokenBudget, stages::kClipContext));
  add_clip_vocab_flag(cmd, o.clip_vocab, "prompts");
  auto* batch = cmd->add_option_function<size_t>(
      "--write-batch-kib", [&o](size_t kib) { o.write_batch_bytes = kib * 1024; },
      "Largest RocksDB write batch per slide, in KiB (default " + std::to_string(o.write_batch_bytes / 1024) + ")");
  batch->check(number_within(pipeline::kMinWriteBatchKib, pipeline::kMaxWriteBatchKib));
  cmd->add_option(
         "--tiles-in-flight", o.tiles_in_flight,
         "Bound on tiles held in memory (0 = " + std::to_string(pipeline::kTilesInFlightPerReader) + " per reader)")
      ->capture_default_str()
      ->check(number_within(size_t{0}, pipeline::kMaxTilesInFlight));
  auto* vae = cmd->add_option("--vae-config", flags->vae_config,
                              "Also encode kept tiles to latents of this VAE (LDM or autoencoder YAML)")
                  ->check(CLI::ExistingFile);
  cmd->add_option("--vae-weights", flags->vae_weights, "The VAE's safetensors (with --vae-config)")
      ->check(CLI::ExistingFile)
      ->needs(vae);
  vae->needs("--vae-weights");
  add_batch_flag(cmd, o.encode_batch, "Tiles per VAE forward pass", "--encode-batch");
  add_run_flags(cmd, flags->run);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Also print the run's summary as JSON on stdout, with stable field names");

  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    check_tiling_flags(o);
    o.progress = pipeline::parse_progress_display(flags->progress);
    o.shard = shard_of_flag(flags->shard);
    if (!flags->vae_config.empty()) {
      o.encoder = encoder_options<runtime::LatentEncoderOptions>(flags->vae_config, flags->vae_weights, flags->run);
      o.open_encoder = latent_encoder_opener();
    }
    const auto summary = pipeline::run_ingest(o);
    if (!summary.model_id.empty()) {
      std::cerr << "ingest: " << summary.tiles_encoded << " tiles encoded with model " << summary.model_id << '\n';
      for (const auto& [slide, error] : summary.encode_failures) {
        std::cerr << "  latents failed: " << slide << ": " << error << '\n';
      }
    }
    if (o.shard) {
      std::cerr << "ingest: shard " << summary.shard << ": " << summary.slides_in_other_shards
                << " slides found belong to other shards\n";
    }
    std::cerr << "ingest: " << summary.slides << " slides: " << summary.complete << " complete, " << summary.skipped
              << " already complete, " << summary.failed << " failed; " << summary.tiles_kept << " of "
              << summary.tiles_read << " tiles read were kept, in " << pipeline::format_duration(summary.seconds)
              << '\n';
    if (summary.without_report > 0) {
      std::cerr << "ingest: " << summary.without_report
                << " slides matched no report and got tile-only prompts (see tessera info)\n";
    }
    if (flags->json) std::cout << summary_json(summary).dump(2) << '\n';
    for (const auto& r : summary.replaced) {
      std::cerr << "  replaced: slide " << r.id << ": " << r.tiles_removed << " tiles from " << r.stored_path
                << " removed, " << r.path << " stored in their place (a different file)\n";
    }
    for (const auto& [path, error] : summary.failures) {
      // Errors name their file as they begin; the path is added only to one that does not.
      std::cerr << "  failed: " << (error.rfind(path + ": ", 0) == 0 ? error : path + ": " + error) << '\n';
    }
    if (summary.interrupted) {
      std::cerr << "ingest: interrupted; run the same command again to finish the remaining slides\n";
      exit_code = kExitInterrupted;
    } else if (summary.failed > 0 || !summary.encode_failures.empty()) {
      exit_code = kExitSlidesFailed;
    }
  });
}

}  // namespace tessera::cli
