#include "pipeline/train.h"

#include <spdlog/spdlog.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <regex>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"
#include "config/fingerprint.h"
#include "config/ldm_config.h"
#include "interrupt.h"
#include "model/device.h"
#include "model/distributed.h"
#include "model/init.h"
#include "model/lr_schedule.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "model/trainer.h"
#include "model/training_checkpoint.h"
#include "model/unet.h"
#include "prompts/prompt_options.h"
#include "run_clock.h"
#include "runtime/latent_batches.h"
#include "store/keys.h"
#include "store/store.h"
#include "training_outputs.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kRunFormat = "tessera-run/1";

std::string checkpoint_name(int64_t step) {
  char name[48];
  std::snprintf(name, sizeof name, "step-%08lld.safetensors", (long long)step);
  return name;
}

// The checkpoint with the highest step, if any.
std::optional<fs::path> latest_checkpoint(const fs::path& run) {
  static const std::regex pattern("step-([0-9]{8})\\.safetensors");
  std::optional<fs::path> best;
  int64_t best_step = -1;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(run / "checkpoints", error)) {
    std::smatch match;
    const std::string name = entry.path().filename().string();
    if (!std::regex_match(name, match, pattern)) continue;
    const int64_t step = std::stoll(match[1]);
    if (step > best_step) best_step = step, best = entry.path();
  }
  return best;
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

model::LrSchedule lr_schedule(const config::TrainingParams& t) {
  if (!t.schedule) return model::constant_lr_schedule();
  const auto& s = *t.schedule;
  return model::LambdaLinearScheduler(s.warm_up_steps, s.f_start, s.f_min, s.f_max, s.cycle_lengths);
}

torch::Device training_device(const std::string& requested, const model::DistributedEnv& env) {
  torch::Device device = model::resolve_device(requested);
  // One process per GPU under torchrun: LOCAL_RANK picks it unless the user did.
  if (device.is_cuda() && env.distributed() && requested.find(':') == std::string::npos) {
    device = torch::Device(torch::kCUDA, torch::DeviceIndex(env.local_rank));
  }
  return device;
}

// The grid's prompts: the store's most used ones (by tiles), up to eight
// images, cycling through fewer prompts with other noise.
SampleGridSpec sample_grid_spec(const store::Store& store, const runtime::LatentBatchReader& reader,
                                const store::ModelRecord& vae, const fs::path& config, const config::TrainingParams& t,
                                const TrainOptions& o) {
  SampleGridSpec spec;
  spec.config = config.string();
  spec.vae_config = vae.config_path;
  spec.vae_weights = vae.weights_path;
  spec.device = o.device;
  spec.threads = o.threads;
  spec.steps = int(t.sample_steps);
  spec.guidance = t.sample_guidance;
  const std::string text_model = reader.options().text_model_id;
  const auto empty = store.embedding(text_model, reader.options().empty_prompt_id);
  if (!empty) return spec;
  spec.unconditional = *empty;
  std::map<std::string, size_t> uses;
  for (const auto& sample : reader.samples()) ++uses[sample.prompt_id];
  std::vector<std::pair<size_t, std::string>> ranked;
  for (const auto& [id, count] : uses) ranked.emplace_back(count, id);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<store::TensorRecord> prompts;
  for (const auto& [count, id] : ranked) {
    if (prompts.size() == 8) break;
    const auto record = id.empty() ? empty : store.embedding(text_model, id);
    if (record) prompts.push_back(*record);
  }
  for (size_t i = 0; i < 8 && !prompts.empty(); ++i) spec.contexts.push_back(prompts[i % prompts.size()]);
  return spec;
}

}  // namespace

TrainSummary run_train(const TrainOptions& o) {
  const RunClock clock;
  const auto env = model::distributed_env_from_environment();
  const bool main_rank = env.rank == 0;
  const fs::path run = o.out;
  const fs::path run_config = run / "config.yaml";

  // The run directory: fresh, or resumed with the same inputs.
  nlohmann::json manifest;
  std::optional<fs::path> resume_from;
  if (o.resume) {
    if (!fs::exists(run / "run.json")) throw Error("--resume: " + run.string() + " holds no run (no run.json)");
    try {
      manifest = nlohmann::json::parse(tessera::read_file(run / "run.json"));
    } catch (const nlohmann::json::exception& e) {
      throw Error((run / "run.json").string() + ": " + e.what());
    }
    if (manifest.value("format", "") != kRunFormat) throw Error(run.string() + "/run.json is not a tessera run");
    if (!o.config.empty() && tessera::read_file(o.config) != tessera::read_file(run_config)) {
      throw Error("--config " + o.config.string() + " differs from the run's " + run_config.string() +
                  "; a run resumes with its own config");
    }
    for (const auto& [key, value] : {std::pair{"vae_model_id", o.vae_model_id}, {"text_model_id", o.text_model_id}}) {
      if (manifest.value(key, "") != value) {
        throw Error(std::string("--resume: the run was trained on ") + key + " " + manifest.value(key, "") + ", not " +
                    value);
      }
    }
    resume_from = latest_checkpoint(run);
  } else if (fs::exists(run) && !fs::is_empty(run)) {
    throw Error(run.string() + " is not empty: give --resume to continue the run there, or another --out");
  }
  const fs::path config_path = o.resume ? run_config : o.config;
  const auto config = config::read_ldm_config(config_path.string());
  if (!config.unet) throw Error(config_path.string() + ": no unet_config; tessera train trains an LDM's denoiser");
  config::TrainingParams t = config.training;
  if (o.batch) t.batch_size = *o.batch;
  if (t.batch_size < 1) throw Error("--batch must be at least 1");
  if (o.steps < 1) throw Error("--steps must be at least 1");
  const uint64_t seed = o.resume ? manifest.value("seed", uint64_t{0}) : o.seed;

  const torch::Device device = training_device(o.device, env);
  const auto precision = model::parse_precision(o.dtype);
  if (device.is_cpu() && precision != model::Precision::kFp32) {
    throw Error("--dtype " + o.dtype + " needs a GPU; on the CPU training runs in fp32");
  }
  // fp16 needs dynamic loss scaling against underflowing gradients; bf16 has
  // fp32's range and needs none.
  if (precision == model::Precision::kFp16) throw Error("--dtype fp16 is not supported for training; use bf16");
  if (t.gradient_checkpointing && config.unet->dropout > 0) {
    throw Error(config_path.string() +
                ": training.gradient_checkpointing needs unet_config dropout 0: the "
                "recomputation would draw other dropout masks");
  }
  if (t.schedule) {
    int64_t cycles = 0;
    for (const int64_t length : t.schedule->cycle_lengths) cycles += length;
    if (o.steps > cycles) {
      throw Error(config_path.string() + ": model.params.scheduler_config's cycles end at step " +
                  std::to_string(cycles) + ", before --steps " + std::to_string(o.steps));
    }
  }
  if (device.is_cpu()) model::set_cpu_threads(o.threads);

  // A snapshot of the store: training never writes it, so an ingest or
  // encode may run beside it, and every rank can open it.
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto store = store::Store::open(o.store, read_only);
  const auto models = store->models();
  const auto& vae = require_model(models, o.vae_model_id, "first_stage", "--vae-model", o.store);
  const auto& text = require_model(models, o.text_model_id, "cond_stage", "--text-model", o.store);
  runtime::LatentBatchOptions batch_options;
  batch_options.vae_model_id = vae.id;
  batch_options.text_model_id = text.id;
  batch_options.empty_prompt_id = store::prompt_id("");
  batch_options.scale_factor = config.diffusion.scale_factor;
  batch_options.drop_probability = t.cfg_dropout;
  batch_options.flips = t.flip;
  batch_options.seed = seed;
  runtime::LatentBatchReader reader(*store, batch_options);
  const auto& unet_config = *config.unet;
  if (reader.latent_shape()[0] != unet_config.in_channels) {
    throw Error(config_path.string() + ": the UNet takes " + std::to_string(unet_config.in_channels) +
                " latent channels, but model " + vae.id + "'s latents have " +
                std::to_string(reader.latent_shape()[0]));
  }
  if (unet_config.use_spatial_transformer && reader.context_width() != unet_config.context_dim) {
    throw Error(config_path.string() + ": the UNet's context_dim is " + std::to_string(unet_config.context_dim) +
                ", but text model " + text.id + "'s embeddings are " + std::to_string(reader.context_width()) +
                " wide");
  }
  if (main_rank && vae.scale_factor != 1.0f && std::abs(vae.scale_factor - config.diffusion.scale_factor) > 1e-6) {
    spdlog::warn("train: latents are scaled by the config's scale_factor {}, but model {} was registered with {}",
                 config.diffusion.scale_factor, vae.id, vae.scale_factor);
  }
  if (reader.tiles_without_latents() > 0 && main_rank) {
    spdlog::warn(
        "train: {} tiles of complete slides have no latent of model {} and are left out (tessera encode "
        "adds them)",
        reader.tiles_without_latents(), vae.id);
  }

  // The denoiser, the same on every rank before the first step.
  auto unet = std::make_shared<model::UNet>(unet_config);
  if (!o.init_weights.empty()) {
    const auto weights = model::WeightsSet::open(o.init_weights);
    bool whole_ldm = false;
    for (const auto& name : weights.names()) whole_ldm |= name.rfind(config::kUNetPrefix, 0) == 0;
    model::load_weights(*unet, weights, whole_ldm ? config::kUNetPrefix : "");
  } else {
    model::initialize_unet(*unet, seed);
  }
  unet->set_gradient_checkpointing(t.gradient_checkpointing);
  model::place_module(*unet, device);
  const auto betas =
      model::make_beta_schedule(config.diffusion.beta_schedule, int(config.diffusion.timesteps),
                                config.diffusion.linear_start, config.diffusion.linear_end, config.diffusion.cosine_s);
  model::DiffusionProcess process(model::make_diffusion_schedule(betas),
                                  config.diffusion.parameterization == config::Parameterization::kV
                                      ? model::Parameterization::kV
                                      : model::Parameterization::kEps,
                                  device);
  model::TrainerOptions trainer_options;
  trainer_options.base_learning_rate = t.base_learning_rate;
  trainer_options.weight_decay = t.weight_decay;
  trainer_options.accumulate = t.accumulate_grad_batches;
  trainer_options.max_grad_norm = t.gradient_clip_val;
  trainer_options.use_ema = t.use_ema;
  trainer_options.ema_decay = t.ema_decay;
  trainer_options.seed = seed;
  trainer_options.data_parallel_rank = env.rank;
  trainer_options.data_parallel_world_size = env.world_size;
  model::LdmTrainer trainer(unet, process, trainer_options, lr_schedule(t));
  model::DataParallel parallel(env, device);
  if (env.distributed()) {
    parallel.broadcast_parameters(*unet);
    trainer.set_after_backward([&parallel](torch::nn::Module& module) { parallel.average_gradients(module); });
  }

  const int64_t per_rank = t.batch_size * t.accumulate_grad_batches;
  const int64_t global_batch = per_rank * env.world_size;
  const auto samples = reader.samples().size();
  // What the data cursor means: a resumed run must see the same stream.
  const std::map<std::string, std::string> cursor = {{"seed", std::to_string(seed)},
                                                     {"global_batch", std::to_string(global_batch)},
                                                     {"samples", std::to_string(samples)},
                                                     {"samples_fingerprint", reader.samples_fingerprint()},
                                                     {"vae_model_id", vae.id},
                                                     {"text_model_id", text.id}};
  TrainingOutputs outputs(run, main_rank);
  if (resume_from) {
    const auto metadata = model::load_training_checkpoint(resume_from->string(), trainer);
    for (const auto& [key, value] : cursor) {
      const auto it = metadata.find(key);
      if (it == metadata.end() || it->second != value) {
        throw Error(resume_from->string() + ": trained with " + key + " " +
                    (it == metadata.end() ? "unknown" : it->second) + ", this run has " + value +
                    "; the data stream would not continue where it stopped");
      }
    }
  }
  // A run killed before its first checkpoint resumes from step 0 with the
  // manifest and config it already has.
  if (o.resume) outputs.resume_at(trainer.step_count());
  if (!o.resume && main_rank) {
    fs::create_directories(run / "checkpoints");
    fs::copy_file(o.config, run_config, fs::copy_options::overwrite_existing);
    manifest = {{"format", kRunFormat},
                {"created_at", utc_now()},
                {"store", fs::absolute(o.store).string()},
                {"config", "config.yaml"},
                {"vae_model_id", vae.id},
                {"text_model_id", text.id},
                {"vae", {{"config", vae.config_path}, {"weights", vae.weights_path}}},
                {"text", {{"config", text.config_path}, {"weights", text.weights_path}}},
                {"init_weights", o.init_weights.empty() ? "" : fs::absolute(o.init_weights).string()},
                {"seed", seed},
                {"batch_size", t.batch_size},
                {"accumulate_grad_batches", t.accumulate_grad_batches},
                {"world_size", env.world_size},
                {"global_batch", global_batch},
                {"samples", samples}};
    const auto prompts = store->prompts();
    manifest["template"] = prompts.empty() ? stages::kDefaultTemplate : prompts.front().template_name;
    manifest["token_budget"] = prompts.empty() ? stages::kDefaultTokenBudget : prompts.front().token_budget;
    tessera::write_file_atomically(run / "run.json", manifest.dump(2) + "\n");
  }
  parallel.barrier();
  if (main_rank && t.sample_every > 0)
    outputs.set_sample_grid(sample_grid_spec(*store, reader, vae, config_path, t, o));

  TrainSummary summary;
  summary.run = run;
  summary.samples = samples;
  summary.rank = env.rank;
  summary.world_size = env.world_size;
  summary.first_step = trainer.step_count();
  const auto mode = main_rank ? resolve_mode(o.progress) : Progress::Mode::kQuiet;
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info(
        "train: {} samples, global batch {} ({} per micro-batch x {} accumulated x {} processes, {}), "
        "steps {} to {} on {}",
        samples, global_batch, t.batch_size, t.accumulate_grad_batches, env.world_size, parallel.backend(),
        summary.first_step, o.steps, device.str());
  }
  Progress progress(mode, 1, std::chrono::seconds(10), {"steps", ""});
  progress.slide_planned(uint64_t(std::max<int64_t>(0, o.steps - summary.first_step)));
  InterruptScope interrupt;

  int64_t saved_at = resume_from ? trainer.step_count() : -1;
  summary.checkpoint = resume_from ? resume_from->string() : "";
  const auto save = [&] {
    const std::string path = (run / "checkpoints" / checkpoint_name(trainer.step_count())).string();
    if (main_rank) model::save_training_checkpoint(path, trainer, cursor);
    summary.checkpoint = path;
    saved_at = trainer.step_count();
    outputs.plot_losses();
  };
  // Every rank must take the same number of steps: the ranks agree on
  // stopping through the step's all-reduce, not each on its own signal.
  bool stopping = false;
  while (trainer.step_count() < o.steps && !stopping) {
    const int64_t step = trainer.step_count();
    const auto positions = runtime::step_positions(step, global_batch, env.rank, per_rank, samples);
    std::vector<model::TrainingBatch> micro_batches;
    for (int64_t m = 0; m < t.accumulate_grad_batches; ++m) {
      const std::vector<runtime::SamplePosition> part(positions.begin() + m * t.batch_size,
                                                      positions.begin() + (m + 1) * t.batch_size);
      auto batch = reader.read(part);
      micro_batches.push_back({model::to_device(batch.latents, device), model::to_device(batch.contexts, device)});
    }
    double loss = 0;
    {
      model::AutocastScope autocast(device, precision);
      loss = trainer.step(micro_batches);
    }
    loss = parallel.all_reduce_mean(loss);
    stopping = parallel.all_reduce_mean(stop_requested() ? 1.0 : 0.0) > 0;
    if (trainer.step_count() == summary.first_step + 1) summary.first_loss = loss;
    summary.last_loss = loss;
    outputs.record_loss(
        {trainer.step_count(), positions.front().epoch, loss, trainer.last_learning_rate(), trainer.last_grad_norm()});
    progress.tiles_done(1);
    if (mode == Progress::Mode::kLines && trainer.step_count() % t.log_every == 0) {
      spdlog::info("step {}: loss {:.5f}, lr {:.3g}, grad norm {:.3g}", trainer.step_count(), loss,
                   trainer.last_learning_rate(), trainer.last_grad_norm());
    }
    const bool grid = t.sample_every > 0 && trainer.step_count() % t.sample_every == 0;
    if (trainer.step_count() % t.checkpoint_every == 0 || grid) save();
    // Drawn from the checkpoint just written: its EMA weights are what
    // generation will use.
    if (grid) outputs.sample_grid(summary.checkpoint, trainer.step_count());
  }
  progress.finish();
  summary.interrupted = stopping || stop_requested();
  if (saved_at != trainer.step_count()) save();
  summary.steps = trainer.step_count();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
