#include "pipeline/train.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <nlohmann/json.hpp>
#include <optional>

#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"
#include "config/ldm_config.h"
#include "interrupt.h"
#include "prompts/prompt_options.h"
#include "run_clock.h"
#include "runtime/latent_samples.h"
#include "runtime/ldm_training.h"
#include "runtime/loss_log.h"
#include "runtime/run_folder.h"
#include "runtime/sample_grid.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

// A resumed run trains what it started with: its own config copy and models.
void check_resumed_inputs(const runtime::RunFolder& run, const runtime::RunManifest& manifest, const TrainOptions& o) {
  if (!o.config.empty() && tessera::read_file(o.config) != tessera::read_file(run.config_copy())) {
    throw Error("--config " + o.config.string() + " differs from the run's " + run.config_copy().string() +
                "; a run resumes with its own config");
  }
  for (const auto& [key, value] : {std::pair{"vae_model_id", o.vae_model_id}, {"text_model_id", o.text_model_id}}) {
    if (manifest.string(key) != value) {
      throw Error(std::string("--resume: the run was trained on ") + key + " " + manifest.string(key) + ", not " +
                  value);
    }
  }
}

// The config with the command's overrides, checked against the command.
config::LdmConfig read_training_config(const fs::path& path, const TrainOptions& o) {
  auto config = config::read_ldm_config(path.string());
  if (!config.unet) throw Error(path.string() + ": no unet_config; tessera train trains an LDM's denoiser");
  config::TrainingParams& t = config.training;
  if (o.batch) t.batch_size = *o.batch;
  if (t.batch_size < 1) throw Error("--batch must be at least 1");
  if (o.steps < 1) throw Error("--steps must be at least 1");
  if (t.schedule) {
    int64_t cycles = 0;
    for (const int64_t length : t.schedule->cycle_lengths) cycles += length;
    if (o.steps > cycles) {
      throw Error(path.string() + ": model.params.scheduler_config's cycles end at step " + std::to_string(cycles) +
                  ", before --steps " + std::to_string(o.steps));
    }
  }
  return config;
}

const store::ModelRecord& require_model(const std::vector<store::ModelRecord>& models, const std::string& id,
                                        const char* role, const char* flag, const fs::path& store_dir) {
  for (const auto& m : models) {
    if (m.id != id) continue;
    if (m.role != role) throw Error(std::string(flag) + " " + id + " is a " + m.role + " model, not a " + role);
    return m;
  }
  std::string known;
  for (const auto& m : models) {
    if (m.role == role) known += (known.empty() ? "" : ", ") + m.id;
  }
  throw Error(std::string(flag) + " " + id + ": store " + store_dir.string() + " has no such model (its " + role +
              " models: " + (known.empty() ? "none" : known) + ")");
}

void warn_about_samples(const runtime::LatentSamples& samples, const store::ModelRecord& vae,
                        const config::LdmConfig& config) {
  const double scale = config.diffusion.scale_factor;
  if (vae.scale_factor != 1.0f && std::abs(vae.scale_factor - scale) > 1e-6) {
    spdlog::warn("train: latents are scaled by the config's scale_factor {}, but model {} was registered with {}",
                 scale, vae.id, vae.scale_factor);
  }
  if (samples.tiles_without_latents() > 0) {
    spdlog::warn(
        "train: {} tiles of complete slides have no latent of model {} and are left out (tessera encode adds them)",
        samples.tiles_without_latents(), vae.id);
  }
}

// What the data cursor means: a resumed run must see the same stream.
runtime::RunSettings data_stream(const runtime::LatentSamples& samples, const runtime::LdmTraining& training) {
  const auto& o = samples.options();
  return {{"seed", std::to_string(o.seed)},
          {"global_batch", std::to_string(training.global_batch())},
          {"samples", std::to_string(samples.samples().size())},
          {"samples_fingerprint", samples.fingerprint()},
          {"vae_model_id", o.vae_model_id},
          {"text_model_id", o.text_model_id}};
}

// A fresh run's folder: the config copy, an empty checkpoints/ and run.json.
void start_run(const runtime::RunFolder& run, const TrainOptions& o, const store::Store& store,
               const runtime::LatentSamples& samples, const store::ModelRecord& vae, const store::ModelRecord& text,
               const std::optional<store::VocabularyRecord>& vocabulary, const config::TrainingParams& t,
               const runtime::LdmTraining& training) {
  fs::create_directories(run.checkpoints());
  fs::copy_file(o.config, run.config_copy(), fs::copy_options::overwrite_existing);
  const auto prompts = store.prompts();
  run.write_manifest({{"created_at", utc_now()},
                      {"store", fs::absolute(o.store).string()},
                      {"config", run.config_copy().filename().string()},
                      {"vae_model_id", vae.id},
                      {"text_model_id", text.id},
                      {"vae", {{"config", vae.config_path}, {"weights", vae.weights_path}}},
                      {"text", {{"config", text.config_path}, {"weights", text.weights_path}}},
                      {"vocabulary", runtime::vocabulary_field(vocabulary)},
                      {"init_weights", o.init_weights.empty() ? "" : fs::absolute(o.init_weights).string()},
                      {"seed", samples.options().seed},
                      {"batch_size", t.batch_size},
                      {"accumulate_grad_batches", t.accumulate_grad_batches},
                      {"world_size", training.world_size()},
                      {"global_batch", training.global_batch()},
                      {"samples", samples.samples().size()},
                      {"template", prompts.empty() ? stages::kDefaultTemplate : prompts.front().template_name},
                      {"token_budget", prompts.empty() ? stages::kDefaultTokenBudget : prompts.front().token_budget}});
}

// What the main process draws at every sample_every steps.
runtime::SampleGrid sample_grid(const runtime::LatentSamples& samples, const store::ModelRecord& vae,
                                const fs::path& config, const config::TrainingParams& t, const TrainOptions& o) {
  runtime::ImageSamplerOptions sampler;
  sampler.config = config.string();
  sampler.vae_config = vae.config_path;
  sampler.vae_weights = vae.weights_path;
  sampler.device = o.device;
  sampler.threads = o.threads;
  sampler.steps = int(t.sample_steps);
  sampler.guidance = t.sample_guidance;
  return runtime::grid_of_common_prompts(samples, sampler);
}

// The steps from where the run stands to `o.steps`, with a checkpoint every
// checkpoint_every steps, at each sample grid, and where it stops.
void train_steps(runtime::LdmTraining& training, const runtime::RunFolder& run, const runtime::RunSettings& stream,
                 const config::TrainingParams& t, const std::optional<runtime::SampleGrid>& grid, const TrainOptions& o,
                 TrainSummary& summary) {
  const bool main = training.main_process();
  const runtime::LossLog losses(run);
  const auto mode = main ? resolve_mode(o.progress) : Progress::Mode::kQuiet;
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info(
        "train: {} samples, global batch {} ({} per micro-batch x {} accumulated x {} processes, {}), steps {} to {} "
        "on {}",
        summary.samples, training.global_batch(), t.batch_size, t.accumulate_grad_batches, training.world_size(),
        training.backend(), summary.first_step, o.steps, training.device());
  }
  Progress progress(mode, 1, std::chrono::seconds(10), {"steps", ""});
  progress.slide_planned(uint64_t(std::max<int64_t>(0, o.steps - summary.first_step)));
  InterruptScope interrupt;
  // A resumed run stands at the step of the checkpoint it resumed from.
  int64_t saved_at = summary.checkpoint.empty() ? -1 : training.step_count();
  const auto save = [&] {
    const fs::path checkpoint = run.weights(training.step_count());
    training.save(checkpoint, stream);
    summary.checkpoint = checkpoint.string();
    saved_at = training.step_count();
    if (main) losses.plot("training loss (" + std::to_string(saved_at) + " steps)", {{2, "loss"}});
  };
  // Every process takes the same number of steps: they agree on stopping.
  bool stopping = false;
  while (training.step_count() < o.steps && !stopping) {
    const runtime::LdmStepLoss loss = training.step();
    stopping = training.any_process_stopping(stop_requested());
    const int64_t step = training.step_count();
    if (step == summary.first_step + 1) summary.first_loss = loss.loss;
    summary.last_loss = loss.loss;
    if (main) losses.append(step, loss);
    progress.set_detail(fmt::format("loss {:.5g}", loss.loss));
    progress.tiles_done(1);
    if (mode == Progress::Mode::kLines && step % t.log_every == 0) {
      spdlog::info("step {}: loss {:.5f}, lr {:.3g}, grad norm {:.3g}", step, loss.loss, loss.learning_rate,
                   loss.grad_norm);
    }
    const bool grid_step = t.sample_every > 0 && step % t.sample_every == 0;
    if (step % t.checkpoint_every == 0 || grid_step) save();
    // From the checkpoint just written: its EMA weights are what generation uses.
    if (grid_step && grid) runtime::draw_sample_grid(*grid, summary.checkpoint, run.sample_grid(step));
  }
  progress.finish();
  summary.interrupted = stopping || stop_requested();
  if (saved_at != training.step_count()) save();
}

}  // namespace

TrainSummary run_train(const TrainOptions& o) {
  const RunClock clock;
  const runtime::RunFolder run(o.out, runtime::RunKind::kLdm);
  // Held for the whole run by the process that writes it; the other ranks only read it.
  std::optional<FolderLock> lock;
  if (runtime::main_training_process()) lock.emplace(run.lock());
  run.check_usable(o.resume);
  std::optional<runtime::RunManifest> manifest;
  if (o.resume) manifest = run.read_manifest();
  if (manifest) check_resumed_inputs(run, *manifest, o);
  const fs::path config_path = o.resume ? run.config_copy() : o.config;
  const auto config = read_training_config(config_path, o);

  // A snapshot of the store: training never writes it, so an ingest or
  // encode may run beside it, and every process can open it.
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(o.store, read_only);
  const auto models = store->models();
  const auto& vae = require_model(models, o.vae_model_id, "first_stage", "--vae-model", o.store);
  const auto& text = require_model(models, o.text_model_id, "cond_stage", "--text-model", o.store);
  const auto vocabulary = store->vocabulary();
  runtime::require_embedded_with(text, vocabulary, "store " + o.store.string());
  runtime::LatentSampleOptions listing;
  listing.vae_model_id = vae.id;
  listing.text_model_id = text.id;
  listing.empty_prompt_id = store::prompt_id("");
  listing.scale_factor = config.diffusion.scale_factor;
  listing.drop_probability = config.training.cfg_dropout;
  listing.flips = config.training.flip;
  listing.seed = manifest ? manifest->unsigned_integer("seed") : o.seed;
  const runtime::LatentSamples samples(*store, listing);

  runtime::LdmTraining training({config_path, config, o.init_weights, listing.seed, o.device, o.dtype, o.threads},
                                samples);
  const bool main = training.main_process();
  if (main) warn_about_samples(samples, vae, config);
  const auto stream = data_stream(samples, training);
  // A run killed before its first checkpoint resumes from step 0 with the
  // manifest and config it already has.
  std::optional<int64_t> resumed;
  if (o.resume) resumed = run.newest_resumable_step();
  if (resumed) {
    run.check_resume_settings(*resumed, stream);
    training.resume(run.training_state(*resumed));
  }
  if (main && !o.resume) start_run(run, o, *store, samples, vae, text, vocabulary, config.training, training);
  if (main) runtime::LossLog(run).keep_rows_through(training.step_count());
  training.barrier();
  std::optional<runtime::SampleGrid> grid;
  if (main && config.training.sample_every > 0) grid = sample_grid(samples, vae, config_path, config.training, o);

  TrainSummary summary;
  summary.run = run.root();
  summary.samples = samples.samples().size();
  summary.rank = training.rank();
  summary.world_size = training.world_size();
  summary.first_step = training.step_count();
  summary.checkpoint = resumed ? run.weights(*resumed).string() : "";
  train_steps(training, run, stream, config.training, grid, o, summary);
  summary.steps = training.step_count();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
