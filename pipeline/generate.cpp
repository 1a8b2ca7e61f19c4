#include "pipeline/generate.h"

#include <spdlog/spdlog.h>

#include <cstdlib>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "base/error.h"
#include "base/folder_lock.h"
#include "dataset/synthetic_set.h"
#include "generate_contact_sheet.h"
#include "generate_contexts.h"
#include "generate_prompts.h"
#include "generate_run.h"
#include "imaging/vips_runtime.h"
#include "interrupt.h"
#include "prompts/prompt_options.h"
#include "prompts/prompt_template.h"
#include "run_clock.h"
#include "runtime/image_sampler.h"
#include "runtime/run_folder.h"
#include "runtime/text_encoder.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;

// ---- Where the three models come from --------------------------------------

struct ModelSources {
  std::string config;  // the LDM YAML of the denoiser and the diffusion settings
  std::string unet_weights;
  std::string vae_config, vae_weights;
  std::string text_config, text_weights;
  std::string template_name = stages::kDefaultTemplate;
  size_t token_budget = stages::kDefaultTokenBudget;
  std::string expected_vae_id, expected_text_id;  // from run.json, "" when not stated
  // From run.json: what the run's prompts were tokenised with; std::nullopt
  // when it trained on none, or before vocabularies were recorded (CLIP's).
  std::optional<store::VocabularyRecord> vocabulary;
};

ModelSources resolve_models(const GenerateOptions& options) {
  ModelSources s;
  if (options.run.empty()) {
    if (options.config.empty() || options.weights.empty()) {
      throw Error("give either --run RUN or both --config and --weights");
    }
    if (!options.checkpoint.empty()) throw Error("--checkpoint goes with --run; with --config use --weights");
    s.config = s.vae_config = s.text_config = options.config.string();
    s.unet_weights = s.vae_weights = s.text_weights = options.weights.string();
    return s;
  }
  if (!options.config.empty() || !options.weights.empty()) {
    throw Error("--run and --config/--weights are alternatives: give one of them");
  }
  const runtime::RunFolder run(options.run, runtime::RunKind::kLdm);
  const runtime::RunManifest manifest = run.read_manifest();
  s.config = manifest.path("config").string();
  s.unet_weights = options.checkpoint.empty() ? run.newest_weights().string() : options.checkpoint.string();
  s.vae_config = manifest.path("vae.config").string();
  s.vae_weights = manifest.path("vae.weights").string();
  s.text_config = manifest.path("text.config").string();
  s.text_weights = manifest.path("text.weights").string();
  if (manifest.has("vae_model_id")) s.expected_vae_id = manifest.string("vae_model_id");
  if (manifest.has("text_model_id")) s.expected_text_id = manifest.string("text_model_id");
  if (manifest.has("template")) s.template_name = manifest.string("template");
  s.vocabulary = manifest.vocabulary();
  if (manifest.has("token_budget")) {
    const uint64_t budget = manifest.unsigned_integer("token_budget");
    stages::check_token_budget(budget, run.manifest().string() + ": field \"token_budget\"");
    s.token_budget = size_t(budget);
  }
  return s;
}

// ---- The run ------------------------------------------------------------------------

void check_options(const GenerateOptions& options) {
  if (options.n == 0 || options.n > stages::kMaxSyntheticImages) {
    throw Error("--n must be within 1.." + std::to_string(stages::kMaxSyntheticImages));
  }
  if (options.batch == 0) throw Error("--batch must be at least 1");
  if (options.out.empty()) throw Error("--out is required");
  if (options.format != "png" && options.format != "jpeg") {
    throw Error("--format " + options.format + ": expected png or jpeg");
  }
  if (options.prompts.empty() == options.from_store.empty()) {
    throw Error("give either --prompts FILE or --from-store DIR");
  }
  if (!options.balance.empty() && options.balance != "tumor" && options.balance != "til") {
    throw Error("--balance " + options.balance + ": expected tumor or til");
  }
  if (!options.balance.empty() && options.from_store.empty()) throw Error("--balance needs --from-store");
  if (options.sampler == "ddpm" && options.steps_given) {
    throw Error("--steps chooses DDIM's steps; --sampler ddpm runs every timestep of the schedule");
  }
  if (options.sampler == "ddpm" && options.eta != 0.0) throw Error("--eta is DDIM's; --sampler ddpm has none");
}

runtime::ImageSamplerOptions sampler_options(const GenerateOptions& options, const ModelSources& models) {
  runtime::ImageSamplerOptions sampling;
  sampling.config = models.config;
  sampling.unet_weights = models.unet_weights;
  sampling.vae_config = models.vae_config;
  sampling.vae_weights = models.vae_weights;
  sampling.sampler = options.sampler;
  sampling.steps = options.steps;
  sampling.eta = options.eta;
  sampling.guidance = options.guidance;
  sampling.device = options.device;
  sampling.compute_dtype = options.compute_dtype;
  sampling.threads = options.threads;
  return sampling;
}

std::string fingerprint_of(const std::optional<store::VocabularyRecord>& vocabulary) {
  return vocabulary ? vocabulary->fingerprint : "";
}

// The prompts must be in the vocabulary the run trained with: CLIP's when it
// records none.
void check_vocabulary(const GenerateOptions& options, const ModelSources& models, const PromptPlan& plan) {
  if (options.run.empty() || !plan.vocabulary) return;
  if (!models.vocabulary && plan.vocabulary->is_clip) return;
  const std::string source = plan.kind == "store" ? "the prompts of store " + options.from_store.string()
                                                  : "--prompts " + options.prompts.string() + ", tokenised with " +
                                                        store::describe(*plan.vocabulary) + ",";
  runtime::require_vocabulary(models.vocabulary ? models.vocabulary->fingerprint : "", "run " + options.run.string(),
                              plan.vocabulary->fingerprint, source);
}

runtime::TextEncoderOptions text_encoder_options(const GenerateOptions& options, const ModelSources& models,
                                                 const PromptPlan& plan) {
  runtime::TextEncoderOptions text_options;
  // The run's empty prompt is the one it trained with.
  text_options.vocabulary = models.vocabulary ? models.vocabulary : plan.vocabulary;
  text_options.config = models.text_config;
  text_options.weights = models.text_weights;
  text_options.device = options.device;
  text_options.compute_dtype = options.compute_dtype;
  text_options.threads = options.threads;
  // Embeddings computed here are rounded as `tessera encode-text` stores
  // them, so an image does not depend on whether the store had its prompt.
  text_options.stored_dtype = store::TensorDType::kF16;
  return text_options;
}

// The models must be those the run was trained with, where run.json names them.
void check_model_ids(const GenerateOptions& options, const ModelSources& models, const runtime::ImageSampler& sampler,
                     const runtime::TextEncoder& text_encoder) {
  if (!models.expected_vae_id.empty() && models.expected_vae_id != sampler.first_stage_id()) {
    throw Error(options.run.string() + "/run.json: the run was trained on first stage " + models.expected_vae_id +
                ", but " + models.vae_weights + " is now " + sampler.first_stage_id());
  }
  if (!models.expected_text_id.empty() && models.expected_text_id != text_encoder.model_id()) {
    throw Error(options.run.string() + "/run.json: the run was trained on text encoder " + models.expected_text_id +
                ", but " + models.text_weights + " is now " + text_encoder.model_id());
  }
}

std::unique_ptr<store::Store> open_prompt_store(const GenerateOptions& options) {
  if (options.from_store.empty()) return nullptr;
  store::StoreOptions read_only;
  read_only.read_only = true;
  return store::Store::open(options.from_store, read_only);
}

// What the images depend on: a rerun into OUT must have the same.
json generate_settings(const GenerateOptions& options, const runtime::ImageSampler& sampler,
                       const std::string& cond_stage_id, const PromptPlan& plan) {
  return {{"unet", sampler.unet_id()},
          {"first_stage", sampler.first_stage_id()},
          {"cond_stage", cond_stage_id},
          {"sampler", sampler.sampler_name()},
          {"steps", sampler.steps()},
          {"eta", sampler.eta()},
          {"guidance", sampler.guidance()},
          {"seed", options.seed},
          {"batch", options.batch},
          {"format", options.format},
          {"dtype", options.compute_dtype},
          {"prompts", {{"kind", plan.kind}, {"balance", plan.balance}, {"hash", plan.fingerprint()}}}};
}

// Index -> file of the images OUT holds, once a row that a kill cut short is dropped.
std::map<uint64_t, std::string> present_images(const stages::SyntheticSet& set) {
  std::map<uint64_t, std::string> files;
  if (!set.has_manifest()) return files;
  if (set.drop_unfinished_row()) spdlog::warn("{}: dropping an unfinished last line", set.manifest_path().string());
  for (const auto& image : set.read_rows()) files.emplace(image.row.index, image.row.file);
  return files;
}

}  // namespace

GenerateSummary run_generate(const GenerateOptions& options) {
  const RunClock clock;
  check_options(options);
  // The prompts are read and checked before any model loads, and every model
  // before OUT is touched.
  const ModelSources models = resolve_models(options);
  const auto store = open_prompt_store(options);
  const PromptPlan plan = plan_prompts(options, store.get(), models.template_name, models.token_budget,
                                       models.vocabulary ? models.vocabulary->path : "");
  check_vocabulary(options, models, plan);
  runtime::ImageSampler sampler(sampler_options(options, models));
  runtime::TextEncoder text_encoder(text_encoder_options(options, models, plan));
  check_model_ids(options, models, sampler, text_encoder);

  std::vector<size_t> assignment(options.n);
  std::set<size_t> used;
  for (uint64_t i = 0; i < options.n; ++i) used.insert(assignment[i] = plan.pick(options.seed, i));

  const stages::SyntheticSet set(options.out);
  const FolderLock lock = set.lock();
  const json settings = generate_settings(options, sampler, text_encoder.model_id(), plan);
  set.check_settings(settings);
  fs::create_directories(options.out / "images");
  set.write_settings(settings, options.n, fs::absolute(models.unet_weights).string(), utc_now());
  auto rows = present_images(set);
  uint64_t missing = 0;
  for (uint64_t i = 0; i < options.n; ++i) missing += rows.count(i) ? 0 : 1;

  GenerateSummary summary;
  summary.out = options.out;
  summary.requested = options.n;
  summary.present = options.n - missing;
  summary.unet_id = sampler.unet_id();
  summary.first_stage_id = sampler.first_stage_id();
  summary.cond_stage_id = text_encoder.model_id();
  summary.checkpoint = models.unet_weights;
  summary.prompts = used.size();
  std::map<std::string, store::TensorRecord> contexts;
  // The store's embeddings serve when they were made with the same
  // vocabulary, whose start and end tokens make the empty prompt.
  const store::Store* embeddings =
      store && fingerprint_of(store->vocabulary()) == fingerprint_of(models.vocabulary) ? store.get() : nullptr;
  if (missing > 0) contexts = prompt_contexts(plan, used, embeddings, text_encoder);
  summary.load_seconds = clock.seconds();

  const auto mode = resolve_mode(options.progress);
  InterruptScope interrupt;
  if (missing > 0) {
    if (mode != Progress::Mode::kQuiet) {
      spdlog::info("generate: {} of {} images to make with {} {} steps, guidance {}, on the {} ({} of {} prompts)",
                   missing, options.n, sampler.sampler_name(), sampler.steps(), sampler.guidance(),
                   sampler.on_gpu() ? "GPU" : "CPU", used.size(), plan.choices.size());
    }
    stages::ensure_vips();
    Progress progress(mode, 1, std::chrono::seconds(10), ProgressUnits{"images", ""});
    progress.slide_planned(missing);
    GenerateRun run(options, sampler, plan, assignment, contexts, text_encoder.model_id(), rows, progress);
    run.run(summary);
    progress.finish();
  }
  summary.interrupted = stop_requested();
  if (!summary.interrupted) {
    stages::ensure_vips();
    write_contact_sheet(options.out, rows);
  }
  summary.unet_seconds = sampler.unet_seconds();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
