#include <spdlog/spdlog.h>
#include <tbb/flow_graph.h>
#include <tbb/global_control.h>
#include <tbb/parallel_for.h>

#include <algorithm>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <iterator>
#include <map>
#include <mutex>
#include <optional>
#include <tuple>

#include "base/crash_point.h"
#include "base/error.h"
#include "base/thread_limit.h"
#include "imaging/jpeg_codec.h"
#include "interrupt.h"
#include "pipeline/encode.h"
#include "run_clock.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace {

struct BatchJob {
  std::string slide_id;
  size_t slide_batches = 0;  // of this slide, so the writer knows when it is done
  int side = 0;
  std::vector<store::TileKey> tiles;
  std::unique_ptr<runtime::HostBatch> host;
  std::vector<store::TensorRecord> latents;
  std::string error;
};
using JobPtr = std::shared_ptr<BatchJob>;

// Enough batches that the next ones are decoded while the model runs.
constexpr size_t kBatchesInFlight = 4;

// Host buffers are reused: pinned memory is slow to allocate, and at most
// `batches in flight` of them exist at once.
class HostBatchPool {
 public:
  HostBatchPool(const runtime::LatentEncoder& encoder, size_t capacity) : encoder_(encoder), capacity_(capacity) {}

  std::unique_ptr<runtime::HostBatch> acquire(int side) {
    {
      std::lock_guard lock(mutex_);
      auto& free = free_[side];
      if (!free.empty()) {
        auto batch = std::move(free.back());
        free.pop_back();
        return batch;
      }
    }
    return std::make_unique<runtime::HostBatch>(encoder_.make_batch(capacity_, side));
  }

  void release(std::unique_ptr<runtime::HostBatch> batch) {
    if (!batch) return;
    std::lock_guard lock(mutex_);
    free_[batch->side()].push_back(std::move(batch));
  }

 private:
  const runtime::LatentEncoder& encoder_;
  size_t capacity_;
  std::mutex mutex_;
  std::map<int, std::vector<std::unique_ptr<runtime::HostBatch>>> free_;
};

// The tiles of a slide of `tiles` with a latent of the model in neither
// store, in key order: when the latents go to a store of their own, tiles
// that the source store has latents of already (merged earlier) are done too.
std::vector<store::TileKey> tiles_without_latents(const store::Store& tiles, const store::Store& latents,
                                                  const std::string& model_id, const std::string& slide_id) {
  auto missing = tiles.tiles_without_latents(model_id, slide_id, latents);
  if (&tiles == &latents) return missing;
  const auto missing_in_source = tiles.tiles_without_latents(model_id, slide_id, tiles);
  std::vector<store::TileKey> both;
  std::set_intersection(
      missing.begin(), missing.end(), missing_in_source.begin(), missing_in_source.end(), std::back_inserter(both),
      [](const store::TileKey& a, const store::TileKey& b) { return std::tie(a.row, a.col) < std::tie(b.row, b.col); });
  return both;
}

class EncodeRun {
 public:
  EncodeRun(const store::Store& tiles, store::Store& latents, runtime::LatentEncoder& encoder, size_t batch,
            Progress& progress, std::vector<std::pair<store::SlideRecord, uint64_t>> work)
      : tiles_(tiles),
        latents_(latents),
        encoder_(encoder),
        batch_(batch),
        progress_(progress),
        pool_(encoder, batch),
        work_(std::move(work)) {}

  void run(size_t batches_in_flight, EncodeSummary& summary);

 private:
  std::optional<JobPtr> next_batch();
  void decode(BatchJob& job);
  void encode(BatchJob& job);
  void write(BatchJob& job, EncodeSummary& summary);

  const store::Store& tiles_;
  store::Store& latents_;
  runtime::LatentEncoder& encoder_;
  size_t batch_;
  Progress& progress_;
  HostBatchPool pool_;
  std::vector<std::pair<store::SlideRecord, uint64_t>> work_;
  double model_seconds_ = 0;  // the model node is serial

  // Source state (the input node is serial).
  size_t next_slide_ = 0;
  std::vector<store::TileKey> pending_;
  size_t pending_next_ = 0;
  const store::SlideRecord* current_ = nullptr;

  // Writer state (the writer node is serial).
  std::map<std::string, size_t> batches_done_;
  std::map<std::string, std::string> failed_;
};

std::optional<JobPtr> EncodeRun::next_batch() {
  while (!stop_requested()) {
    if (current_ && pending_next_ < pending_.size()) {
      auto job = std::make_shared<BatchJob>();
      job->slide_id = current_->id;
      job->slide_batches = (pending_.size() + batch_ - 1) / batch_;
      job->side = current_->tile_size;
      const size_t end = std::min(pending_.size(), pending_next_ + batch_);
      job->tiles.assign(pending_.begin() + int64_t(pending_next_), pending_.begin() + int64_t(end));
      pending_next_ = end;
      return job;
    }
    if (next_slide_ == work_.size()) return std::nullopt;
    current_ = &work_[next_slide_++].first;
    // Listed when reached, not up front: the list is keys only, one slide at a time.
    pending_ = tiles_without_latents(tiles_, latents_, encoder_.model_id(), current_->id);
    pending_next_ = 0;
    if (pending_.empty()) progress_.slide_finished("slide " + current_->id + ": latents complete");
  }
  return std::nullopt;
}

void EncodeRun::decode(BatchJob& job) {
  try {
    encoder_.check_tile_side(job.side);
    job.host = pool_.acquire(job.side);
    tbb::parallel_for(size_t{0}, job.tiles.size(), [&](size_t i) {
      const auto& tile = job.tiles[i];
      const auto pixels = tiles_.tile_pixels(tile.slide_id, tile.row, tile.col);
      if (!pixels) {
        throw Error("tile (" + std::to_string(tile.row) + ", " + std::to_string(tile.col) + ") of slide " +
                    tile.slide_id + " has no stored pixels");
      }
      stages::decode_jpeg_into(*pixels, job.host->tile(i), job.side, job.side);
    });
  } catch (const std::exception& e) {
    job.error = e.what();
  }
}

void EncodeRun::encode(BatchJob& job) {
  if (job.error.empty()) {
    const RunClock clock;
    try {
      job.latents = encoder_.encode(*job.host, job.tiles.size());
    } catch (const std::exception& e) {
      job.error = e.what();
    }
    model_seconds_ += clock.seconds();
  }
  pool_.release(std::move(job.host));
}

void EncodeRun::write(BatchJob& job, EncodeSummary& summary) {
  const bool last = ++batches_done_[job.slide_id] == job.slide_batches;
  if (job.error.empty()) {
    std::vector<std::pair<store::TileKey, store::TensorRecord>> latents;
    latents.reserve(job.tiles.size());
    for (size_t i = 0; i < job.tiles.size(); ++i) latents.emplace_back(job.tiles[i], std::move(job.latents[i]));
    try {
      latents_.put_latents(encoder_.model_id(), latents);
      summary.tiles_encoded += job.tiles.size();
    } catch (const std::exception& e) {
      job.error = e.what();
    }
  }
  if (!job.error.empty() && !failed_.count(job.slide_id)) failed_[job.slide_id] = job.error;
  progress_.tiles_done(job.tiles.size());
  crash_point("encode.batch_stored");
  if (last) {
    const auto failure = failed_.find(job.slide_id);
    if (failure != failed_.end()) {
      summary.failures.emplace_back(job.slide_id, failure->second);
      progress_.slide_finished("slide " + job.slide_id + ": latents FAILED: " + failure->second);
    } else {
      ++summary.slides_encoded;
      progress_.slide_finished("slide " + job.slide_id + ": latents complete");
    }
  }
}

void EncodeRun::run(size_t batches_in_flight, EncodeSummary& summary) {
  using namespace tbb::flow;
  graph g;
  input_node<JobPtr> source(g, [this](tbb::flow_control& control) -> JobPtr {
    if (auto job = next_batch()) return *job;
    control.stop();
    return {};
  });
  limiter_node<JobPtr> limiter(g, batches_in_flight);
  function_node<JobPtr, JobPtr> decoder(g, unlimited, [this](const JobPtr& job) {
    decode(*job);
    return job;
  });
  function_node<JobPtr, JobPtr> model(g, serial, [this](const JobPtr& job) {
    encode(*job);
    return job;
  });
  function_node<JobPtr, continue_msg> writer(g, serial, [this, &summary](const JobPtr& job) {
    write(*job, summary);
    return continue_msg();
  });
  make_edge(source, limiter);
  make_edge(limiter, decoder);
  make_edge(decoder, model);
  make_edge(model, writer);
  make_edge(writer, limiter.decrementer());
  source.activate();
  g.wait_for_all();
  summary.model_seconds = model_seconds_;
}

}  // namespace

EncodeSummary encode_missing(const store::Store& tiles, store::Store& latents, runtime::LatentEncoder& encoder,
                             size_t batch, int jobs, Progress::Mode mode, const std::optional<Shard>& shard) {
  if (batch == 0) throw Error("--batch must be at least 1");
  const RunClock clock;
  EncodeSummary summary;
  summary.model_id = encoder.model_id();

  // What there is to do, from key scans only.
  std::vector<std::pair<store::SlideRecord, uint64_t>> work;
  std::optional<int> first_side;
  if (shard) summary.shard = shard->text();
  for (auto& slide : tiles.slides()) {
    if (slide.status != store::SlideStatus::kComplete) continue;
    if (shard && !shard->owns(slide.id)) {
      ++summary.slides_in_other_shards;
      continue;
    }
    ++summary.slides;
    const uint64_t count = tiles.count_tiles(slide.id);
    const uint64_t missing = tiles_without_latents(tiles, latents, encoder.model_id(), slide.id).size();
    summary.tiles += count;
    summary.tiles_present += count - missing;
    if (missing > 0) {
      if (!first_side) first_side = slide.tile_size;
      work.emplace_back(std::move(slide), missing);
    }
  }
  if (work.empty()) {
    summary.seconds = clock.seconds();
    return summary;
  }

  // The largest tiles need the most memory; checked before anything is written.
  int largest_side = 0;
  for (const auto& [slide, missing] : work) largest_side = std::max(largest_side, slide.tile_size);
  batch = encoder.affordable_batch(batch, largest_side);

  // Registered before any latent is written, so that re-ingesting a slide
  // (which removes the latents of every registered model) never leaves a
  // latent of an unregistered model behind.
  auto record = encoder.model_record(*first_side);
  record.registered_at = utc_now();
  latents.ensure_model(record);

  Progress progress(mode, work.size());
  uint64_t to_encode = 0;
  for (const auto& [slide, missing] : work) {
    progress.slide_planned(missing);
    to_encode += missing;
  }
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("encode: {} tiles of {} slides without latents of model {}, on the {}", to_encode, work.size(),
                 encoder.model_id(), encoder.on_gpu() ? "GPU" : "CPU");
  }
  const int decoders = threads_or_cores(jobs);
  // Decoders plus the model and writer nodes.
  tbb::global_control threads(tbb::global_control::max_allowed_parallelism, size_t(decoders) + 2);
  EncodeRun run(tiles, latents, encoder, batch, progress, std::move(work));
  run.run(kBatchesInFlight, summary);
  progress.finish();
  summary.interrupted = stop_requested();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
