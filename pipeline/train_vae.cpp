#include "pipeline/train_vae.h"

#include <spdlog/spdlog.h>
#include <unistd.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cinttypes>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <future>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <sstream>
#include <system_error>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"
#include "imaging/jpeg_codec.h"
#include "imaging/loss_plot.h"
#include "interrupt.h"
#include "run_clock.h"
#include "runtime/model_loading.h"
#include "runtime/training_samples.h"
#include "runtime/vae_training.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;

constexpr const char* kCsvHeader = "step,loss,rec,codebook_or_kl,perceptual,lr";
constexpr const char* kRunFormat = "tessera-train-vae/1";

// Shortest text that reads back as the same double.
std::string number(double value) {
  char text[32];
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

std::string checkpoint_name(int64_t step) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08" PRId64, step);
  return name;
}

struct TrainingTile {
  uint32_t slide = 0;  // index into the slide ids
  uint32_t row = 0;
  uint32_t col = 0;
};

// Every tile of every complete slide, in key order, from a read-only snapshot.
struct TileList {
  std::vector<std::string> slide_ids;
  std::vector<TrainingTile> tiles;
  int smallest_side = 0;
};

TileList list_tiles(const store::Store& store) {
  TileList list;
  size_t complete = 0;
  for (const auto& slide : store.slides()) {
    if (slide.status != store::SlideStatus::kComplete) continue;
    ++complete;
    const auto index = uint32_t(list.slide_ids.size());
    const size_t before = list.tiles.size();
    store.for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord&) {
      list.tiles.push_back({index, key.row, key.col});
    });
    if (list.tiles.size() == before) continue;
    list.slide_ids.push_back(slide.id);
    list.smallest_side = list.smallest_side == 0 ? slide.tile_size : std::min(list.smallest_side, slide.tile_size);
  }
  if (complete == 0) {
    throw Error("store " + store.dir().string() + " has no complete slides to train on: run `tessera ingest` first");
  }
  if (list.tiles.empty()) {
    throw Error("store " + store.dir().string() + ": its " + std::to_string(complete) +
                " complete slides have no tiles to train on");
  }
  return list;
}

// One step's crops, HWC 8-bit, side x side each.
struct CropBatch {
  std::vector<uint8_t> pixels;
  uint64_t epoch = 0;
};

// The crops of step `step`: a pure function of (seed, step) and the tile list.
class CropSource {
 public:
  CropSource(const store::Store& store, const TileList& list, uint64_t seed, int64_t batch, int side)
      : store_(store), list_(list), seed_(seed), batch_(batch), side_(side) {}

  CropBatch crops(int64_t step) {
    CropBatch batch;
    const size_t crop_bytes = size_t(side_) * size_t(side_) * 3;
    batch.pixels.resize(crop_bytes * size_t(batch_));
    const auto positions = runtime::step_positions(step, batch_, 0, batch_, list_.tiles.size());
    for (size_t i = 0; i < positions.size(); ++i) {
      const auto& position = positions[i];
      const TrainingTile& tile = list_.tiles[order(position.epoch)[position.index]];
      const store::TileKey key{list_.slide_ids[tile.slide], tile.row, tile.col};
      const auto jpeg = store_.tile_pixels(key.slide_id, key.row, key.col);
      if (!jpeg) {
        throw Error("slide " + key.slide_id + ": tile (" + std::to_string(key.row) + ", " + std::to_string(key.col) +
                    ") has no stored pixels");
      }
      const stages::RgbImage image = stages::decode_jpeg(*jpeg);
      // The draw's flips, and its 64-bit noise word as the crop's corner.
      const runtime::SampleDraw draw = runtime::draw_for_sample(seed_, position.epoch, key, 0.0, true);
      const int x0 = int((draw.noise_seed & 0xffffffffu) % uint64_t(image.width - side_ + 1));
      const int y0 = int((draw.noise_seed >> 32) % uint64_t(image.height - side_ + 1));
      uint8_t* out = batch.pixels.data() + crop_bytes * i;
      for (int y = 0; y < side_; ++y) {
        const int source_y = y0 + (draw.flip_vertical ? side_ - 1 - y : y);
        for (int x = 0; x < side_; ++x) {
          const int source_x = x0 + (draw.flip_horizontal ? side_ - 1 - x : x);
          const uint8_t* pixel = image.at(source_x, source_y);
          uint8_t* target = out + (size_t(y) * size_t(side_) + size_t(x)) * 3;
          target[0] = pixel[0], target[1] = pixel[1], target[2] = pixel[2];
        }
      }
      batch.epoch = position.epoch;
    }
    return batch;
  }

 private:
  // A step spans at most two epochs: the last two orders are kept.
  const std::vector<uint32_t>& order(uint64_t epoch) {
    auto found = orders_.find(epoch);
    if (found != orders_.end()) return found->second;
    if (orders_.size() >= 2) orders_.erase(orders_.begin());
    return orders_.emplace(epoch, runtime::epoch_order(list_.tiles.size(), seed_, epoch)).first->second;
  }

  const store::Store& store_;
  const TileList& list_;
  uint64_t seed_;
  int64_t batch_;
  int side_;
  std::map<uint64_t, std::vector<uint32_t>> orders_;
};

struct LossRow {
  int64_t step = 0;
  runtime::VaeStepLoss loss;
};

std::string csv_row(const LossRow& row) {
  return std::to_string(row.step) + "," + number(row.loss.loss) + "," + number(row.loss.rec) + "," +
         number(row.loss.regulariser) + "," + number(row.loss.perceptual) + "," + number(row.loss.learning_rate);
}

// The rows of an existing loss.csv up to `last_step`; the rest (written after
// the checkpoint a resumed run starts from) are dropped.
std::vector<LossRow> read_loss_rows(const fs::path& path, int64_t last_step) {
  std::vector<LossRow> rows;
  std::ifstream in(path);
  if (!in) return rows;
  std::string line;
  std::getline(in, line);
  if (line != kCsvHeader) throw Error(path.string() + ": not a train-vae loss.csv (header '" + line + "')");
  while (std::getline(in, line)) {
    if (line.empty()) continue;
    std::vector<std::string> fields;
    std::stringstream split(line);
    for (std::string field; std::getline(split, field, ',');) fields.push_back(field);
    try {
      if (fields.size() != 6) throw std::invalid_argument("fields");
      LossRow row;
      row.step = std::stoll(fields[0]);
      row.loss.loss = std::stod(fields[1]);
      row.loss.rec = std::stod(fields[2]);
      row.loss.regulariser = std::stod(fields[3]);
      row.loss.perceptual = std::stod(fields[4]);
      row.loss.learning_rate = std::stod(fields[5]);
      if (row.step <= last_step) rows.push_back(row);
    } catch (const std::exception&) {
      // A row cut short by a kill is the only one that can be malformed.
      continue;
    }
  }
  return rows;
}

// A picture that cannot be drawn is a warning: it never costs the run.
void plot_losses(const fs::path& path, const std::vector<LossRow>& rows, const std::string& architecture,
                 bool perceptual) {
  std::vector<stages::LossSeries> series(perceptual ? 4 : 3);
  series[0].name = "loss (minimised)";
  series[1].name = "rec |x - x'|";
  series[2].name = architecture == "vq" ? "codebook" : "kl";
  if (perceptual) series[3].name = "perceptual (LPIPS)";
  for (const LossRow& row : rows) {
    series[0].points.push_back({row.step, row.loss.loss});
    series[1].points.push_back({row.step, row.loss.rec});
    series[2].points.push_back({row.step, row.loss.regulariser});
    if (perceptual) series[3].points.push_back({row.step, row.loss.perceptual});
  }
  stages::LossPlotOptions options;
  options.title = "train-vae: " + architecture + " autoencoder";
  options.log_y = true;
  try {
    stages::write_loss_plot(series, options, path.string());
  } catch (const std::exception& e) {
    spdlog::warn("train-vae: no loss plot: {}", e.what());
  }
}

// The newest step with both checkpoint files, if any.
std::optional<int64_t> newest_checkpoint(const fs::path& dir) {
  std::optional<int64_t> newest;
  if (!fs::is_directory(dir)) return newest;
  for (const auto& entry : fs::directory_iterator(dir)) {
    const std::string name = entry.path().filename().string();
    int64_t step = 0;
    int consumed = 0;
    if (std::sscanf(name.c_str(), "step-%" SCNd64 ".train.safetensors%n", &step, &consumed) != 1) continue;
    if (size_t(consumed) != name.size()) continue;
    if (!fs::exists(dir / (checkpoint_name(step) + ".safetensors"))) continue;
    if (!newest || step > *newest) newest = step;
  }
  return newest;
}

// What must not change when a run resumes, for its losses to continue exactly.
std::map<std::string, std::string> run_settings(const TrainVaeOptions& options, const runtime::VaeTrainer& trainer,
                                                int crop) {
  return {{"init_model_id", trainer.initial_model_id()},
          {"batch", std::to_string(options.batch)},
          {"seed", std::to_string(options.seed)},
          {"learning_rate", number(options.learning_rate)},
          {"max_grad_norm", number(options.max_grad_norm)},
          {"perceptual", trainer.perceptual() ? "on" : "off"},
          {"crop", std::to_string(crop)}};
}

// A line every ten seconds (or a redrawn bar on a terminal).
class StepProgress {
 public:
  StepProgress(Progress::Mode mode, int64_t first, int64_t last) : mode_(mode), first_(first), last_(last) {}

  void step_done(int64_t step, double loss) {
    if (mode_ == Progress::Mode::kQuiet) return;
    const auto now = std::chrono::steady_clock::now();
    const bool bar = mode_ == Progress::Mode::kBar;
    if (step != last_ && now - last_render_ < (bar ? std::chrono::milliseconds(100) : std::chrono::seconds(10))) {
      return;
    }
    last_render_ = now;
    const double elapsed = clock_.seconds();
    const double rate = elapsed > 0 ? double(step - first_) / elapsed : 0;
    const double eta = rate > 0 ? double(last_ - step) / rate : NAN;
    char text[160];
    std::snprintf(text, sizeof text, "train-vae: step %lld/%lld | loss %.5g | %.2f steps/s | elapsed %s | ETA %s",
                  (long long)step, (long long)last_, loss, rate, format_duration(elapsed).c_str(),
                  format_duration(eta).c_str());
    if (bar) {
      std::fprintf(stderr, "\r%s\x1b[K%s", text, step == last_ ? "\n" : "");
      line_open_ = step != last_;
    } else {
      spdlog::info("{}", text);
    }
  }

  // Ends a bar left mid-line (an interrupted run).
  void finish() {
    if (line_open_) std::fputc('\n', stderr);
    line_open_ = false;
  }

 private:
  Progress::Mode mode_;
  bool line_open_ = false;
  int64_t first_, last_;
  RunClock clock_;
  std::chrono::steady_clock::time_point last_render_{};
};

}  // namespace

TrainVaeSummary run_train_vae(const TrainVaeOptions& options) {
  const RunClock clock;
  if (options.steps < 1) throw Error("--steps must be at least 1");
  if (options.batch < 1) throw Error("--batch must be at least 1");
  if (options.checkpoint_every < 1) throw Error("--checkpoint-every must be at least 1");
  const fs::path run = options.out;
  const fs::path checkpoints = run / "checkpoints";
  if (fs::exists(run) && !fs::is_directory(run)) throw Error("--out " + run.string() + " is not a directory");
  if (!options.resume && fs::exists(run) && !fs::is_empty(run)) {
    throw Error("--out " + run.string() + " is not empty: pass --resume to continue its run, or choose another folder");
  }
  const Progress::Mode mode = resolve_mode(options.progress);

  // Everything is loaded and checked before RUN is written.
  runtime::VaeTrainingOptions model_options;
  model_options.config = options.config;
  model_options.weights = options.init_weights;
  model_options.perceptual = options.perceptual_weights;
  model_options.learning_rate = options.learning_rate;
  model_options.max_grad_norm = options.max_grad_norm;
  model_options.seed = options.seed;
  model_options.device = options.device;
  model_options.threads = options.threads;
  runtime::VaeTrainer trainer(model_options);

  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(options.store, read_only);
  const TileList tiles = list_tiles(*store);
  // VQGAN trains on crops of its resolution; smaller tiles train whole.
  const int crop = std::min(trainer.resolution(), tiles.smallest_side);
  if (crop % trainer.downsample() != 0) {
    throw Error("tiles of " + std::to_string(tiles.smallest_side) + " px cannot train " + options.config +
                ": the side must be a multiple of its downsampling factor " + std::to_string(trainer.downsample()));
  }
  const auto settings = run_settings(options, trainer, crop);

  std::optional<int64_t> resumed;
  if (options.resume) resumed = newest_checkpoint(checkpoints);
  if (resumed) {
    const std::string base = (checkpoints / checkpoint_name(*resumed)).string();
    const auto saved = runtime::VaeTrainer::state_metadata(base + ".train.safetensors");
    for (const auto& [key, value] : settings) {
      const auto found = saved.find(key);
      const std::string then = found == saved.end() ? "(absent)" : found->second;
      if (then != value) {
        throw Error("--resume: " + base + " was trained with " + key + " " + then + ", this run has " + value +
                    "; resuming exactly needs the same settings (start a new --out to change them)");
      }
    }
    const auto saved_tiles = saved.find("tiles");
    if (saved_tiles != saved.end() && saved_tiles->second != std::to_string(tiles.tiles.size())) {
      spdlog::warn(
          "train-vae: the store had {} tiles when the run started and has {} now: the data order differs "
          "from an uninterrupted run",
          saved_tiles->second, tiles.tiles.size());
    }
    trainer.resume(base + ".safetensors", base + ".train.safetensors");
    if (trainer.step_count() > options.steps) {
      throw Error("--resume: the run in " + run.string() + " is at step " + std::to_string(trainer.step_count()) +
                  ", beyond --steps " + std::to_string(options.steps));
    }
  }

  TrainVaeSummary summary;
  summary.run = run;
  summary.architecture = trainer.architecture();
  summary.initial_model_id = trainer.initial_model_id();
  summary.first_step = trainer.step_count();
  summary.tiles = tiles.tiles.size();
  summary.crop = crop;
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("train-vae: {} model {} on {} tiles of {} slides, crops of {} px, batch {}, lr {}, on the {}{}",
                 summary.architecture, summary.initial_model_id, tiles.tiles.size(), tiles.slide_ids.size(), crop,
                 options.batch, number(options.learning_rate), trainer.on_gpu() ? "GPU" : "CPU",
                 resumed ? ", resumed at step " + std::to_string(*resumed) : std::string());
    if (options.resume && !resumed) spdlog::info("train-vae: no checkpoint in {}: starting at step 0", run.string());
  }
  // Said whatever the progress display: it changes what the run optimises.
  if (!trainer.perceptual()) spdlog::info("train-vae: the perceptual (LPIPS) term is off: no --perceptual-weights");

  fs::create_directories(checkpoints);
  const fs::path csv_path = run / "loss.csv";
  std::vector<LossRow> rows = read_loss_rows(csv_path, trainer.step_count());
  {
    std::string text = std::string(kCsvHeader) + "\n";
    for (const LossRow& row : rows) text += csv_row(row) + "\n";
    tessera::write_file_atomically(csv_path, text);
  }
  std::ofstream csv(csv_path, std::ios::app);

  auto metadata = settings;
  metadata["store"] = fs::absolute(options.store).string();
  metadata["config"] = fs::absolute(options.config).string();
  metadata["init_weights"] = fs::absolute(options.init_weights).string();
  metadata["perceptual_weights"] = options.perceptual_weights;
  metadata["tiles"] = std::to_string(tiles.tiles.size());
  int64_t saved_step = resumed ? *resumed : 0;
  if (resumed) summary.checkpoint = (checkpoints / checkpoint_name(*resumed)).string() + ".safetensors";
  auto save_checkpoint = [&] {
    const fs::path base = checkpoints / checkpoint_name(trainer.step_count());
    trainer.save_weights(base.string() + ".safetensors");
    trainer.save_state(base.string() + ".train.safetensors", metadata);
    summary.checkpoint = base.string() + ".safetensors";
    saved_step = trainer.step_count();
    // Only the newest state is needed to resume; the weights stay for picking.
    for (const auto& entry : fs::directory_iterator(checkpoints)) {
      const std::string name = entry.path().filename().string();
      if (name.size() > 18 && name.compare(name.size() - 18, 18, ".train.safetensors") == 0 &&
          entry.path() != fs::path(base.string() + ".train.safetensors")) {
        fs::remove(entry.path());
      }
    }
    plot_losses(run / "loss.png", rows, summary.architecture, trainer.perceptual());
  };

  InterruptScope interrupt;
  CropSource source(*store, tiles, options.seed, options.batch, crop);
  StepProgress progress(mode, trainer.step_count(), options.steps);
  std::future<CropBatch> next;
  if (trainer.step_count() < options.steps) {
    next = std::async(std::launch::async, [&source, step = trainer.step_count()] { return source.crops(step); });
  }
  bool first = true;
  while (trainer.step_count() < options.steps) {
    if (stop_requested()) {
      summary.interrupted = true;
      break;
    }
    CropBatch batch = next.get();
    const int64_t step = trainer.step_count();
    // The next step's tiles are read and decoded while this one trains.
    if (step + 1 < options.steps) {
      next = std::async(std::launch::async, [&source, step] { return source.crops(step + 1); });
    }
    const runtime::VaeStepLoss loss = trainer.step(batch.pixels.data(), size_t(options.batch), crop);
    if (!std::isfinite(loss.loss)) {
      if (next.valid()) next.wait();
      throw Error("train-vae: the loss is " + number(loss.loss) + " at step " + std::to_string(step + 1) +
                  " (lower --lr, or set --clip-grad); the last checkpoint is intact");
    }
    rows.push_back({trainer.step_count(), loss});
    csv << csv_row(rows.back()) << '\n' << std::flush;
    if (first) summary.first_loss = loss.loss, first = false;
    summary.last_loss = loss.loss;
    progress.step_done(trainer.step_count(), loss.loss);
    if (trainer.step_count() % options.checkpoint_every == 0 || trainer.step_count() == options.steps) {
      save_checkpoint();
    }
  }
  if (next.valid()) next.wait();
  progress.finish();
  // SIGINT: the steps since the last checkpoint are kept too.
  if (summary.interrupted && trainer.step_count() != saved_step) save_checkpoint();
  summary.steps = trainer.step_count();

  if (!summary.interrupted) {
    const fs::path weights = run / "vae.safetensors";
    trainer.save_weights(weights.string());
    summary.model_id = runtime::load_autoencoder(options.config, weights.string()).id;
    plot_losses(run / "loss.png", rows, summary.architecture, trainer.perceptual());
    nlohmann::json manifest = {{"format", kRunFormat},
                               {"store", fs::absolute(options.store).string()},
                               {"config", fs::absolute(options.config).string()},
                               {"architecture", summary.architecture},
                               {"init_weights", fs::absolute(options.init_weights).string()},
                               {"init_model_id", summary.initial_model_id},
                               {"model_id", summary.model_id},
                               {"weights", fs::absolute(weights).string()},
                               {"steps", summary.steps},
                               {"batch", options.batch},
                               {"seed", options.seed},
                               {"learning_rate", options.learning_rate},
                               {"max_grad_norm", options.max_grad_norm},
                               {"perceptual_weights", options.perceptual_weights},
                               {"crop", crop},
                               {"tiles", summary.tiles},
                               {"finished_at", utc_now()}};
    tessera::write_file_atomically(run / "run.json", manifest.dump(2) + "\n");
  }
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
