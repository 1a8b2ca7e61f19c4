#include "pipeline/train_vae.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <future>
#include <nlohmann/json.hpp>
#include <optional>
#include <vector>

#include "base/error.h"
#include "base/folder_lock.h"
#include "base/number_text.h"
#include "interrupt.h"
#include "run_clock.h"
#include "runtime/loss_log.h"
#include "runtime/model_loading.h"
#include "runtime/run_folder.h"
#include "runtime/vae_crops.h"
#include "runtime/vae_training.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;

runtime::VaeTrainingOptions trainer_options(const TrainVaeOptions& options) {
  runtime::VaeTrainingOptions o;
  o.config = options.config;
  o.weights = options.init_weights;
  o.perceptual = options.perceptual_weights;
  o.learning_rate = options.learning_rate;
  o.max_grad_norm = options.max_grad_norm;
  o.seed = options.seed;
  o.device = options.device;
  o.threads = options.threads;
  return o;
}

// VQGAN trains on crops of its resolution; smaller tiles train whole.
int crop_side(const runtime::VaeTrainer& trainer, const runtime::VaeTiles& tiles, const std::string& config) {
  const int crop = std::min(trainer.resolution(), tiles.smallest_side);
  if (crop % trainer.downsample() != 0) {
    throw Error("tiles of " + std::to_string(tiles.smallest_side) + " px cannot train " + config +
                ": the side must be a multiple of its downsampling factor " + std::to_string(trainer.downsample()));
  }
  return crop;
}

// What must not change when a run resumes, for its losses to continue exactly.
runtime::RunSettings run_settings(const TrainVaeOptions& options, const runtime::VaeTrainer& trainer, int crop,
                                  const runtime::VaeTiles& tiles) {
  return {{"init_model_id", trainer.initial_model_id()},
          {"batch", std::to_string(options.batch)},
          {"seed", std::to_string(options.seed)},
          {"learning_rate", shortest_decimal(options.learning_rate)},
          {"max_grad_norm", shortest_decimal(options.max_grad_norm)},
          {"perceptual", trainer.perceptual() ? "on" : "off"},
          {"crop", std::to_string(crop)},
          {"tiles", std::to_string(tiles.tiles.size())}};
}

// The checkpoints' metadata: the settings and where the run's inputs were.
std::map<std::string, std::string> checkpoint_metadata(runtime::RunSettings settings, const TrainVaeOptions& options) {
  settings["store"] = fs::absolute(options.store).string();
  settings["config"] = fs::absolute(options.config).string();
  settings["init_weights"] = fs::absolute(options.init_weights).string();
  settings["perceptual_weights"] = options.perceptual_weights;
  return settings;
}

void resume(const runtime::RunFolder& run, int64_t step, const runtime::RunSettings& settings,
            runtime::VaeTrainer& trainer, int64_t steps) {
  run.check_resume_settings(step, settings);
  trainer.resume(run.weights(step).string(), run.training_state(step).string());
  if (trainer.step_count() > steps) {
    throw Error("--resume: the run in " + run.root().string() + " is at step " + std::to_string(trainer.step_count()) +
                ", beyond --steps " + std::to_string(steps));
  }
}

void plot_losses(const runtime::LossLog& losses, const runtime::VaeTrainer& trainer) {
  std::vector<runtime::LossColumn> columns = {
      {1, "loss (minimised)"}, {2, "rec |x - x'|"}, {3, trainer.architecture() == "vq" ? "codebook" : "kl"}};
  if (trainer.perceptual()) columns.push_back({4, "perceptual (LPIPS)"});
  losses.plot("train-vae: " + trainer.architecture() + " autoencoder", columns);
}

// The steps from where the run stands to --steps, a checkpoint every
// --checkpoint-every steps, at the last and where SIGINT stops it.
void train_steps(runtime::VaeTrainer& trainer, runtime::CropSource& source, const runtime::RunFolder& run,
                 const std::map<std::string, std::string>& metadata, const TrainVaeOptions& options, int crop,
                 Progress::Mode mode, TrainVaeSummary& summary) {
  const runtime::LossLog losses(run);
  int64_t saved_step = summary.first_step;
  const auto save = [&] {
    const int64_t step = trainer.step_count();
    trainer.save_weights(run.weights(step).string());
    trainer.save_state(run.training_state(step).string(), metadata);
    summary.checkpoint = run.weights(step).string();
    saved_step = step;
    run.keep_only_training_state(step);
    plot_losses(losses, trainer);
  };
  InterruptScope interrupt;
  Progress progress(mode, 1, std::chrono::seconds(10), {"steps", ""});
  progress.slide_planned(uint64_t(options.steps - summary.first_step));
  // The next step's tiles are read and decoded while this one trains.
  const auto prefetch = [&source](int64_t step) {
    return std::async(std::launch::async, [&source, step] { return source.crops(step); });
  };
  std::future<std::vector<uint8_t>> next;
  if (trainer.step_count() < options.steps) next = prefetch(trainer.step_count());
  while (trainer.step_count() < options.steps) {
    if (stop_requested()) {
      summary.interrupted = true;
      break;
    }
    const std::vector<uint8_t> pixels = next.get();
    const int64_t step = trainer.step_count();
    if (step + 1 < options.steps) next = prefetch(step + 1);
    const runtime::VaeStepLoss loss = trainer.step(pixels.data(), size_t(options.batch), crop);
    if (!std::isfinite(loss.loss)) {
      if (next.valid()) next.wait();
      throw Error("train-vae: the loss is " + shortest_decimal(loss.loss) + " at step " + std::to_string(step + 1) +
                  " (lower --lr, or set --clip-grad); the last checkpoint is intact");
    }
    losses.append(trainer.step_count(), loss);
    if (step == summary.first_step) summary.first_loss = loss.loss;
    summary.last_loss = loss.loss;
    progress.set_detail("loss " + shortest_decimal(loss.loss));
    progress.tiles_done(1);
    if (trainer.step_count() % options.checkpoint_every == 0 || trainer.step_count() == options.steps) save();
  }
  if (next.valid()) next.wait();
  progress.finish();
  // SIGINT: the steps since the last checkpoint are kept too.
  if (summary.interrupted && trainer.step_count() != saved_step) save();
}

// A finished run: its weights as vae.safetensors, a new model, and run.json.
void finish_run(const runtime::RunFolder& run, const runtime::VaeTrainer& trainer, const TrainVaeOptions& options,
                TrainVaeSummary& summary) {
  const fs::path weights = run.final_weights();
  trainer.save_weights(weights.string());
  summary.model_id = runtime::load_autoencoder(options.config, weights.string()).id;
  plot_losses(runtime::LossLog(run), trainer);
  run.write_manifest({{"store", fs::absolute(options.store).string()},
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
                      {"crop", summary.crop},
                      {"tiles", summary.tiles},
                      {"finished_at", utc_now()}});
}

}  // namespace

TrainVaeSummary run_train_vae(const TrainVaeOptions& options) {
  const RunClock clock;
  if (options.steps < 1) throw Error("--steps must be at least 1");
  if (options.batch < 1) throw Error("--batch must be at least 1");
  if (options.checkpoint_every < 1) throw Error("--checkpoint-every must be at least 1");
  const runtime::RunFolder run(options.out, runtime::RunKind::kVae);
  const FolderLock lock = run.lock();
  run.check_usable(options.resume);
  const Progress::Mode mode = resolve_mode(options.progress);

  // Everything is loaded and checked before RUN is written.
  runtime::VaeTrainer trainer(trainer_options(options));
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(options.store, read_only);
  const runtime::VaeTiles tiles = runtime::list_vae_tiles(*store);
  const int crop = crop_side(trainer, tiles, options.config);
  const auto settings = run_settings(options, trainer, crop, tiles);
  std::optional<int64_t> resumed;
  if (options.resume) resumed = run.newest_resumable_step();
  if (resumed) resume(run, *resumed, settings, trainer, options.steps);

  TrainVaeSummary summary;
  summary.run = run.root();
  summary.architecture = trainer.architecture();
  summary.initial_model_id = trainer.initial_model_id();
  summary.first_step = trainer.step_count();
  summary.tiles = tiles.tiles.size();
  summary.crop = crop;
  if (resumed) summary.checkpoint = run.weights(*resumed).string();
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("train-vae: {} model {} on {} tiles of {} slides, crops of {} px, batch {}, lr {}, on the {}{}",
                 summary.architecture, summary.initial_model_id, tiles.tiles.size(), tiles.slide_ids.size(), crop,
                 options.batch, shortest_decimal(options.learning_rate), trainer.on_gpu() ? "GPU" : "CPU",
                 resumed ? ", resumed at step " + std::to_string(summary.first_step) : std::string());
    if (options.resume && !resumed)
      spdlog::info("train-vae: no checkpoint in {}: starting at step 0", run.root().string());
  }
  // Said whatever the progress display: it changes what the run optimises.
  if (!trainer.perceptual()) spdlog::info("train-vae: the perceptual (LPIPS) term is off: no --perceptual-weights");

  fs::create_directories(run.checkpoints());
  runtime::LossLog(run).keep_rows_through(trainer.step_count());
  runtime::CropSource source(*store, tiles, options.seed, options.batch, crop);
  train_steps(trainer, source, run, checkpoint_metadata(settings, options), options, crop, mode, summary);
  summary.steps = trainer.step_count();
  if (!summary.interrupted) finish_run(run, trainer, options, summary);
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
