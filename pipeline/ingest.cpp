#include "pipeline/ingest.h"

#include <spdlog/spdlog.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <atomic>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <ctime>
#include <future>
#include <set>
#include <stdexcept>
#include <string>

#include "base/crash_point.h"
#include "base/error.h"
#include "base/file_io.h"
#include "base/number_text.h"
#include "base/thread_limit.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "interrupt.h"
#include "pipeline/encode.h"
#include "pipeline/progress.h"
#include "run_clock.h"
#include "runtime/model_batch.h"
#include "runtime/vocabulary.h"
#include "slide/resolution.h"
#include "slide/tile_filter.h"
#include "slide/tile_reader.h"
#include "slide/tiling_limits.h"
#include "slide_plan.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

fs::path qc_dir(const IngestOptions& options) { return options.qc_dir.empty() ? options.store / "qc" : options.qc_dir; }

// A slide in flight through the graph. Only the writer node touches `writer`,
// `received` and `failure`, and it frees `plan` once the slide is finished, so
// the source node reads only the immutable `cells`.
// A kept tile waiting for its batch to be encoded.
struct PendingTile {
  uint32_t row = 0;
  uint32_t col = 0;
  store::TileRecord record;
  std::string jpeg;
};

struct SlideState {
  std::unique_ptr<SlidePlan> plan;
  std::vector<PendingTile> pending;  // with an encoder only
  size_t cells = 0;
  std::set<std::string> prompts_written;
  std::optional<store::SlideWriter> writer;
  size_t expected = 0;  // messages the writer will receive (at least one)
  size_t received = 0;
  std::string failure;
};

// One message per tile to read; a slide with nothing to read sends a single
// message with no cell, so that the writer still finishes it.
struct TileJob {
  std::shared_ptr<SlideState> slide;
  int64_t index = -1;  // into plan->cells, or -1
};

struct TileResult {
  std::shared_ptr<SlideState> slide;
  int64_t index = -1;
  stages::FilterScores scores;
  stages::FilterRule verdict = stages::FilterRule::kKept;
  stages::TileProbabilities probabilities;
  const store::PromptRecord* prompt = nullptr;  // owned by the slide's plan
  std::string jpeg;
  std::string error;
};

class IngestRun {
 public:
  IngestRun(const IngestOptions& options, store::Store& store, std::vector<stages::SlideSource> sources,
            std::map<std::string, double> overrides, const PromptContext* prompts, Progress& progress,
            runtime::LatentEncoder* encoder)
      : options_(options),
        prompts_(prompts),
        encoder_(encoder),
        store_(store),
        sources_(std::move(sources)),
        overrides_(std::move(overrides)),
        progress_(progress) {}

  IngestSummary run(int jobs, size_t tiles_in_flight);

 private:
  std::optional<TileJob> next_job();
  std::shared_ptr<SlideState> next_slide();
  TileResult read(const TileJob& job) const;
  void write(const TileResult& result);
  void store_tile(SlideState& state, const PendingTile& tile, const store::TensorRecord* latent);
  void encode_pending(SlideState& state);
  void finish_slide(SlideState& state);
  void record_failure(const stages::SlideSource& source, const std::string& error, const store::SlideRecord* partial);

  const IngestOptions& options_;
  const PromptContext* prompts_;
  runtime::LatentEncoder* encoder_;
  std::optional<runtime::HostBatch> host_batch_;  // the writer's, reused
  store::Store& store_;
  std::vector<stages::SlideSource> sources_;
  std::map<std::string, double> overrides_;
  Progress& progress_;

  // Source state (the input node runs serially).
  size_t next_source_ = 0;
  std::shared_ptr<SlideState> current_;
  size_t next_cell_ = 0;
  bool sent_empty_ = false;

  IngestSummary summary_;
  std::mutex summary_mutex_;
};

std::shared_ptr<SlideState> IngestRun::next_slide() {
  while (next_source_ < sources_.size() && !stop_requested()) {
    const auto& source = sources_[next_source_++];
    std::optional<store::SlideRecord> pending;
    try {
      OpenedSlide opened = open_slide(source, options_, overrides_, prompts_);
      const auto existing = store_.slide(source.id);
      if (!options_.force && existing && existing->status == store::SlideStatus::kComplete &&
          existing->config_hash == opened.config_hash && existing->quickhash == opened.slide->quickhash()) {
        std::lock_guard lock(summary_mutex_);
        ++summary_.skipped;
        progress_.slide_planned(0);
        progress_.slide_finished("slide " + source.id + ": already complete, skipped");
        continue;
      }
      check_grid_size(opened, options_);
      for (const auto& warning : opened.slide->warnings()) spdlog::warn("slide {}: {}", source.id, warning);
      pending = pending_record(opened, options_);
      std::optional<SlideReplacement> replacement;
      if (existing && existing->status != store::SlideStatus::kFailed && existing->quickhash != pending->quickhash) {
        replacement = SlideReplacement{source.id, existing->path, source.path, store_.count_tiles(source.id)};
      }
      store_.reset_slide(*pending);
      if (replacement) {
        spdlog::warn(
            "slide {}: {} is a different file from {}, which the store held under this id; its {} tiles "
            "were removed and {} is ingested in its place",
            source.id, source.path, replacement->stored_path, replacement->tiles_removed, source.path);
        std::lock_guard lock(summary_mutex_);
        summary_.replaced.push_back(std::move(*replacement));
      }
      auto state = std::make_shared<SlideState>();
      state->plan = plan_slide(std::move(opened), options_);
      state->cells = state->plan->cells.size();
      state->expected = std::max<size_t>(1, state->cells);
      state->writer.emplace(store_.slide_writer(source.id, options_.write_batch_bytes));
      progress_.slide_planned(state->plan->cells.size());
      return state;
    } catch (const std::exception& e) {
      record_failure(source, e.what(), pending ? &*pending : nullptr);
    }
  }
  return nullptr;
}

std::optional<TileJob> IngestRun::next_job() {
  while (!stop_requested()) {
    if (!current_) {
      current_ = next_slide();
      if (!current_) return std::nullopt;
      next_cell_ = 0;
      sent_empty_ = false;
    }
    const size_t cells = current_->cells;
    if (next_cell_ < cells) return TileJob{current_, int64_t(next_cell_++)};
    if (cells == 0 && !sent_empty_) {
      sent_empty_ = true;
      return TileJob{current_, -1};
    }
    current_.reset();
  }
  return std::nullopt;
}

TileResult IngestRun::read(const TileJob& job) const {
  TileResult result;
  result.slide = job.slide;
  result.index = job.index;
  if (job.index < 0) return result;
  const SlidePlan& plan = *job.slide->plan;
  try {
    const auto& cell = plan.cells[size_t(job.index)];
    const auto tile = stages::read_tile(*plan.opened.slide, plan.opened.level.level, plan.opened.grid, cell);
    result.scores = stages::score_tile(tile, plan.dark_background, options_.filter);
    result.scores.tissue_fraction = plan.cell_tissue[size_t(job.index)];
    result.verdict = stages::judge(result.scores, options_.filter);
    if (result.verdict == stages::FilterRule::kKept) {
      result.jpeg = stages::encode_jpeg(tile, options_.jpeg);
      const auto& prompts = plan.opened.prompts;
      if (prompts.attributes) {
        result.probabilities = stages::average_over_tile(*prompts.attributes, plan.opened.resolution.mpp_x, cell.x,
                                                         cell.y, plan.opened.grid.extent);
      }
      result.prompt = prompts.for_tile(result.probabilities);
    }
  } catch (const std::exception& e) {
    result.error = e.what();
  }
  return result;
}

void IngestRun::write(const TileResult& result) {
  SlideState& state = *result.slide;
  ++state.received;
  if (state.failure.empty() && !result.error.empty()) state.failure = result.error;
  if (state.failure.empty() && result.index >= 0) {
    SlidePlan& plan = *state.plan;
    const auto& cell = plan.cells[size_t(result.index)];
    plan.qc_tiles[size_t(cell.row) * plan.opened.grid.cols + cell.col].verdict = result.verdict;
    if (result.verdict == stages::FilterRule::kKept) {
      store::TileRecord record;
      record.x = cell.x;
      record.y = cell.y;
      record.extent = plan.opened.grid.extent;
      record.size = uint32_t(plan.opened.grid.tile);
      record.mpp = float(plan.opened.level.tile_mpp);
      record.tissue_fraction = float(result.scores.tissue_fraction);
      record.white_fraction = float(result.scores.background_fraction);
      record.pen_fraction = float(result.scores.pen_fraction);
      record.blur_score = float(result.scores.blur_variance);
      if (result.probabilities.tumor) record.tumor_probability = float(*result.probabilities.tumor);
      if (result.probabilities.til) record.til_probability = float(*result.probabilities.til);
      try {
        if (result.prompt) {
          record.prompt_id = result.prompt->id;
          if (state.prompts_written.insert(result.prompt->id).second) state.writer->add_prompt(*result.prompt);
        }
        PendingTile tile{cell.row, cell.col, record, result.jpeg};
        if (encoder_) {
          state.pending.push_back(std::move(tile));
          if (state.pending.size() >= options_.encode_batch) encode_pending(state);
        } else {
          store_tile(state, tile, nullptr);
        }
      } catch (const std::exception& e) {
        state.failure = e.what();
      }
      ++plan.record.tiles_kept;
    } else {
      ++plan.record.rejected[stages::to_string(result.verdict)];
    }
  }
  if (result.index >= 0) progress_.tiles_done(1);
  if (state.received == state.expected) finish_slide(state);
}

void IngestRun::store_tile(SlideState& state, const PendingTile& tile, const store::TensorRecord* latent) {
  state.writer->add(tile.row, tile.col, tile.record, tile.jpeg);
  if (latent) state.writer->add_latent(encoder_->model_id(), tile.row, tile.col, *latent);
  crash_point("ingest.tile_stored");
}

void IngestRun::encode_pending(SlideState& state) {
  if (state.pending.empty()) return;
  const int side = state.plan->opened.grid.tile;
  if (!host_batch_ || host_batch_->side() != side) host_batch_ = encoder_->make_batch(options_.encode_batch, side);
  auto& pending = state.pending;
  tbb::parallel_for(size_t{0}, pending.size(),
                    [&](size_t i) { stages::decode_jpeg_into(pending[i].jpeg, host_batch_->tile(i), side, side); });
  const auto latents = encoder_->encode(*host_batch_, pending.size());
  for (size_t i = 0; i < pending.size(); ++i) store_tile(state, pending[i], &latents[i]);
  pending.clear();
}

void IngestRun::finish_slide(SlideState& state) {
  SlidePlan& plan = *state.plan;
  const auto& source = plan.opened.source;
  if (state.failure.empty() && encoder_) {
    try {
      encode_pending(state);
    } catch (const std::exception& e) {
      state.failure = std::string("encoding its tiles failed: ") + e.what();
    }
  }
  if (!state.failure.empty()) {
    state.writer.reset();
    record_failure(source, state.failure, &plan.record);
    state.plan.reset();
    return;
  }
  auto& record = plan.record;
  record.status = store::SlideStatus::kComplete;
  record.prompts = int64_t(state.prompts_written.size());
  record.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - plan.started).count();
  record.finished_at = utc_now();
  // The QC picture is drawn and compressed while the commit flushes the tiles,
  // and written only once they are stored.
  const fs::path qc_png = qc_dir(options_) / (source.id + ".png");
  std::future<std::string> qc_bytes;
  if (options_.write_qc) {
    qc_bytes = std::async(std::launch::async, [&plan, &qc_png] {
      return stages::encode_png(stages::draw_tile_verdicts(plan.qc_base.get(), plan.qc_tiles), qc_png.string());
    });
  }
  try {
    state.writer->commit(record);
  } catch (const std::exception& e) {
    if (qc_bytes.valid()) qc_bytes.wait();
    state.writer.reset();
    record_failure(source, e.what(), &record);
    state.plan.reset();
    return;
  }
  // The QC picture is a by-product: failing to write it never costs the tiles.
  if (qc_bytes.valid()) {
    try {
      write_file_atomically(qc_png, qc_bytes.get());
    } catch (const std::exception& e) {
      spdlog::warn("slide {}: QC picture not written: {}", source.id, e.what());
    }
  }
  {
    std::lock_guard lock(summary_mutex_);
    ++summary_.complete;
    if (prompts_ && prompts_->reports() > 0 && record.report_origin.empty()) ++summary_.without_report;
    summary_.tiles_read += plan.cells.size();
    summary_.tiles_kept += uint64_t(record.tiles_kept);
  }
  char line[512];
  std::snprintf(line, sizeof line, "slide %s: complete, %lld of %lld tiles kept at %.4g um/px (level %d, %s)",
                source.id.c_str(), (long long)record.tiles_kept, (long long)record.tiles_total, record.tile_mpp,
                record.level, format_duration(record.seconds).c_str());
  progress_.slide_finished(line);
  state.writer.reset();
  state.plan.reset();
}

void IngestRun::record_failure(const stages::SlideSource& source, const std::string& error,
                               const store::SlideRecord* partial) {
  // A slide stored complete earlier keeps its tiles when it now fails to open
  // (say, an unmounted share): the failure is reported, nothing is deleted.
  std::optional<store::SlideRecord> existing;
  try {
    if (!partial) existing = store_.slide(source.id);
  } catch (const std::exception& e) {
    spdlog::warn("slide {}: its stored record is unreadable ({}); it is replaced", source.id, e.what());
  }
  const bool keep_stored = existing && existing->status == store::SlideStatus::kComplete;
  store::SlideRecord record;
  if (partial) record = *partial;
  record.id = source.id;
  record.path = source.path;
  record.status = store::SlideStatus::kFailed;
  record.error = error;
  record.tiles_kept = 0;
  record.finished_at = utc_now();
  try {
    if (!keep_stored) store_.reset_slide(record);  // drops any tiles written before the failure
  } catch (const std::exception& e) {
    spdlog::error("cannot record the failure of {}: {}", source.path, e.what());
  }
  {
    std::lock_guard lock(summary_mutex_);
    ++summary_.failed;
    summary_.failures.emplace_back(source.path, error);
  }
  progress_.slide_finished("slide " + source.id + ": FAILED: " + error +
                           (keep_stored ? " (its stored complete tiles are kept)" : ""));
}

IngestSummary IngestRun::run(int jobs, size_t tiles_in_flight) {
  using namespace tbb::flow;
  graph g;
  input_node<TileJob> source(g, [this](tbb::flow_control& control) -> TileJob {
    if (auto job = next_job()) return std::move(*job);
    control.stop();
    return {};
  });
  limiter_node<TileJob> limiter(g, tiles_in_flight);
  function_node<TileJob, TileResult> reader(g, size_t(jobs), [this](const TileJob& job) { return read(job); });
  function_node<TileResult, continue_msg> writer(g, serial, [this](const TileResult& result) {
    write(result);
    return continue_msg();
  });
  make_edge(source, limiter);
  make_edge(limiter, reader);
  make_edge(reader, writer);
  make_edge(writer, limiter.decrementer());
  source.activate();
  g.wait_for_all();
  summary_.interrupted = stop_requested();
  return std::move(summary_);
}

// Every option error is found here, before the store is opened, rather than as
// one failed slide after another.
void validate(const IngestOptions& o) {
  const auto fraction = [](double v) { return v >= 0 && v <= 1; };
  if (o.mpp && o.magnification) throw Error("give either --mpp or --magnification, not both");
  if (o.mpp && !(*o.mpp >= stages::kMinPlausibleMpp && *o.mpp <= stages::kMaxPlausibleMpp)) {
    throw Error("--mpp must be within 0.1..20 microns per pixel");
  }
  if (o.magnification && !(*o.magnification > 0 && *o.magnification <= kMaxMagnification)) {
    throw Error("--magnification must be within (0, " + std::to_string(int(kMaxMagnification)) + "]");
  }
  if (o.assume_mpp && !(*o.assume_mpp >= stages::kMinPlausibleMpp && *o.assume_mpp <= stages::kMaxPlausibleMpp)) {
    throw Error("--assume-mpp must be within 0.1..20 microns per pixel");
  }
  if (!(o.level_tolerance >= 0 && o.level_tolerance < kMaxLevelTolerance)) {
    throw Error("--level-tolerance must be within [0, " + shortest_decimal(kMaxLevelTolerance) + ")");
  }
  if (o.tile < stages::kMinTileSize || o.tile > stages::kMaxTileSize) {
    throw Error("--tile must be within " + std::to_string(stages::kMinTileSize) + ".." +
                std::to_string(stages::kMaxTileSize));
  }
  if (o.overlap < 0 || o.overlap >= o.tile) throw Error("--overlap must be within 0.." + std::to_string(o.tile - 1));
  if (!fraction(o.filter.min_tissue) || !fraction(o.filter.max_background) || !fraction(o.filter.max_pen)) {
    throw Error("--min-tissue, --max-background and --max-pen are fractions within [0, 1]");
  }
  if (!(o.filter.min_blur_variance >= 0 && o.filter.min_blur_variance <= stages::kMaxBlurVariance)) {
    throw Error("--min-blur-variance must be within [0, " + shortest_decimal(stages::kMaxBlurVariance) + "]");
  }
  if (o.jobs < 0 || o.jobs > kMaxThreads) throw Error("--jobs must be within 0.." + std::to_string(kMaxThreads));
  if (o.tiles_in_flight > kMaxTilesInFlight) {
    throw Error("--tiles-in-flight must be within 0.." + std::to_string(kMaxTilesInFlight));
  }
  if (o.jpeg.quality < stages::kMinJpegQuality || o.jpeg.quality > stages::kMaxJpegQuality) {
    throw Error("JPEG quality must be in " + std::to_string(stages::kMinJpegQuality) + ".." +
                std::to_string(stages::kMaxJpegQuality));
  }
  if (o.write_batch_bytes < kMinWriteBatchKib * 1024) {
    throw Error("--write-batch-kib must be at least " + std::to_string(kMinWriteBatchKib));
  }
  if (o.encode_batch < 1 || o.encode_batch > runtime::kMaxModelBatch) {
    throw Error("--encode-batch must be within 1.." + std::to_string(runtime::kMaxModelBatch));
  }
}

}  // namespace

IngestSummary run_ingest(const IngestOptions& options) {
  const auto started = std::chrono::steady_clock::now();
  validate(options);
  const int jobs = threads_or_cores(options.jobs);
  const size_t in_flight = options.tiles_in_flight ? options.tiles_in_flight : size_t(jobs) * kTilesInFlightPerReader;

  stages::ensure_vips();
  auto sources = stages::discover_slides(options.slides);
  size_t slides_in_other_shards = 0;
  if (options.shard) {
    const auto others = std::remove_if(sources.begin(), sources.end(),
                                       [&](const stages::SlideSource& s) { return !options.shard->owns(s.id); });
    slides_in_other_shards = size_t(sources.end() - others);
    sources.erase(others, sources.end());
  }
  std::map<std::string, double> overrides;
  if (!options.mpp_overrides_csv.empty()) overrides = stages::read_mpp_overrides(options.mpp_overrides_csv);

  // Two files with one id would overwrite each other's tiles: the later one fails.
  IngestSummary duplicates;
  {
    std::map<std::string, std::string> seen;
    std::vector<stages::SlideSource> unique;
    for (auto& s : sources) {
      const auto [it, inserted] = seen.emplace(s.id, s.path);
      if (inserted) {
        unique.push_back(std::move(s));
      } else {
        duplicates.failures.emplace_back(
            s.path, "slide id '" + s.id + "' is also the id of " + it->second + "; rename one of the files");
      }
    }
    sources = std::move(unique);
  }

  // Reports, summaries and attributes are read whole and checked before the
  // store is touched: a malformed file stops the run with nothing written.
  const auto prompts = PromptContext::load(options);
  // So is the VAE: a truncated or mismatched weights file writes nothing.
  std::unique_ptr<runtime::LatentEncoder> encoder;
  if (options.encoder) {
    if (!options.open_encoder) throw std::logic_error("IngestOptions::encoder is set without open_encoder");
    encoder = options.open_encoder(*options.encoder);
    encoder->check_tile_side(options.tile);
  }
  store::StoreOptions store_options;
  store_options.pixel_blob_files = options.pixel_blob_files;
  auto store = store::Store::open(options.store, store_options);
  if (prompts) runtime::claim_store_vocabulary(*store, prompts->vocabulary());
  if (options.write_qc) {
    std::error_code error;
    fs::create_directories(qc_dir(options), error);
    if (error) throw Error("cannot create the QC folder " + qc_dir(options).string() + ": " + error.message());
  }
  const Progress::Mode mode = resolve_mode(options.progress);
  Progress progress(mode, sources.size());
  if (mode != Progress::Mode::kQuiet) {
    if (options.shard) {
      spdlog::info("ingest: shard {}: {} slides of {} found", options.shard->text(), sources.size(),
                   sources.size() + slides_in_other_shards);
    }
    spdlog::info("ingest: {} slides into {} with {} readers, at most {} tiles in flight", sources.size(),
                 options.store.string(), jobs, in_flight);
  }

  InterruptScope interrupt;
  // The readers plus the source and writer nodes.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, size_t(jobs) + 1);
  const size_t total = sources.size();
  // Checked before the model is registered: a batch that cannot fit stops here.
  IngestOptions fitted = options;
  if (encoder) fitted.encode_batch = encoder->affordable_batch(options.encode_batch, options.tile);
  if (encoder) {
    auto record = encoder->model_record(options.tile);
    record.registered_at = utc_now();
    store->ensure_model(record);
  }
  IngestRun run(fitted, *store, std::move(sources), std::move(overrides), prompts.get(), progress, encoder.get());
  IngestSummary summary = run.run(jobs, in_flight);
  if (options.shard) summary.shard = options.shard->text();
  summary.slides_in_other_shards = slides_in_other_shards;
  progress.finish();
  if (encoder) {
    summary.model_id = encoder->model_id();
    summary.tiles_encoded = summary.tiles_kept;
    // Slides stored complete before this run (or skipped as current) may
    // lack this model's latents.
    if (!summary.interrupted) {
      auto top_up = encode_missing(*store, *store, *encoder, fitted.encode_batch, jobs, mode, options.shard);
      summary.tiles_encoded += top_up.tiles_encoded;
      summary.encode_failures = std::move(top_up.failures);
      summary.interrupted = top_up.interrupted;
    }
  }

  summary.slides = total + duplicates.failures.size();
  summary.failed += duplicates.failures.size();
  for (auto& f : duplicates.failures) summary.failures.push_back(std::move(f));
  summary.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  return summary;
}

}  // namespace tessera::pipeline
