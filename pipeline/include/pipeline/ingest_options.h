#pragma once

#include <cstddef>
#include <filesystem>
#include <optional>
#include <string>
#include <vector>

#include "imaging/jpeg_codec.h"
#include "pipeline/progress.h"
#include "pipeline/shard.h"
#include "prompts/case_matching.h"
#include "prompts/prompt_options.h"
#include "prompts/report_source.h"
#include "prompts/tile_attributes.h"
#include "runtime/latent_encoder.h"
#include "slide/resample_method.h"
#include "slide/tile_filter.h"
#include "slide/tissue_mask.h"

namespace tessera::pipeline {

// Tiles in flight per tile reader when IngestOptions::tiles_in_flight is 0.
inline constexpr size_t kTilesInFlightPerReader = 4;
// The bounds of IngestOptions::write_batch_bytes, in KiB.
inline constexpr size_t kMinWriteBatchKib = 4;
inline constexpr size_t kMaxWriteBatchKib = size_t{1} << 20;
// The highest target magnification.
inline constexpr double kMaxMagnification = 200;
// The bound on IngestOptions::tiles_in_flight: 65536 tiles of 256 px are
// 12 GiB of pixels.
inline constexpr size_t kMaxTilesInFlight = size_t{1} << 16;
// IngestOptions::level_tolerance is below this: a level half the target's
// resolution away is never the target's.
inline constexpr double kMaxLevelTolerance = 0.5;

struct IngestOptions {
  std::filesystem::path store;
  std::vector<std::string> slides;  // files or folders

  // Target resolution: µm/px, or a magnification. Default: 0.5 µm/px.
  std::optional<double> mpp;
  std::optional<double> magnification;
  // A level within this relative distance of the target is used unresampled.
  // Default: 0.05.
  double level_tolerance = 0.05;
  std::optional<double> assume_mpp;
  std::string mpp_overrides_csv;  // Default: none.

  // Between levels: Lanczos3 from full resolution, or DCT-scaled JPEG decoding
  // where the level allows it. Default: stages::kDefaultResampleMethod.
  stages::ResampleMethod resample = stages::kDefaultResampleMethod;

  int tile = 256;   // Default: 256; within stages::kMinTileSize..kMaxTileSize.
  int overlap = 0;  // Default: 0.

  stages::TissueOptions tissue;
  stages::FilterOptions filter;
  stages::JpegOptions jpeg;  // Stored tile pixels (docs/STORE.md has the size/fidelity figures).

  // Prompts: made when reports or tile attributes are given.
  std::string reports;  // CSV, JSONL or a folder of .txt. Default: none.
  stages::ReportSourceOptions report_columns;
  // User summaries (e.g. from an LLM): CSV with the report id column and
  // `summary`; they replace the composed summary of their cases. Default: none.
  std::string summaries;
  stages::CaseMatchOptions case_match;
  std::string tile_attributes;  // wsinfer-style CSV. Default: none.
  stages::TileAttributeOptions attribute_options;
  // schemas/templates/NAME.txt or a path. Default: stages::kDefaultTemplate.
  std::string prompt_template = stages::kDefaultTemplate;
  // CLIP tokens per prompt, start and end included. Default:
  // stages::kDefaultTokenBudget; within kMinTokenBudget..kClipContext.
  size_t token_budget = stages::kDefaultTokenBudget;
  // CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz); empty means
  // $TESSERA_CLIP_VOCAB. Required with prompts. Default: empty.
  std::string clip_vocab;

  // Encode the kept tiles to latents of this VAE in the same pass: a slide is
  // complete with its tiles and latents or not at all. Slides stored earlier
  // are then topped up as `tessera encode` would. Default: unset (tiles only).
  std::optional<runtime::LatentEncoderOptions> encoder;
  // What opens `encoder`: runtime::LatentEncoder::open, given by a binary that
  // runs models (cli/model_host.h), so that the ingest graph itself does not
  // link LibTorch. Required with `encoder`.
  runtime::LatentEncoder::Opener open_encoder = nullptr;
  size_t encode_batch = 16;  // tiles per forward pass. Default: 16; at most runtime::kMaxModelBatch.

  // Tile readers; 0 means one per core. Default: 0.
  int jobs = 0;
  // Tiles read but not yet written, the bound on memory; 0 means
  // kTilesInFlightPerReader per reader. Default: 0.
  size_t tiles_in_flight = 0;
  // Per-slide QC PNGs; empty means STORE/qc. Default: empty.
  std::filesystem::path qc_dir;
  bool write_qc = true;
  // Largest RocksDB write batch per slide; the slide's status rides in its last
  // one. Default: 4 MiB; within kMinWriteBatchKib..kMaxWriteBatchKib KiB.
  size_t write_batch_bytes = size_t{4} << 20;
  // Keep tile pixels in RocksDB blob files (see store/store.h). Default: true.
  bool pixel_blob_files = true;
  // Only the slides of this shard of the cohort (shard.h); the others are
  // left to the other tasks. Default: unset (every slide).
  std::optional<Shard> shard;
  // Redo every slide, complete or not. Default: false.
  bool force = false;
  // Cut slides whose grid has more than stages::kMaxGridTilesUnconfirmed
  // tiles; without it such a slide fails before a tile is read. Default: false.
  bool allow_large_grid = false;
  // Progress: a redrawn bar on a terminal, plain lines otherwise. Default: auto.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

}  // namespace tessera::pipeline
