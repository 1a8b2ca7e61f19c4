#include "pipeline/generate.h"

#include <spdlog/spdlog.h>
#include <tbb/flow_graph.h>
#include <tbb/parallel_for.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <set>
#include <sstream>
#include <utility>
#include <vector>

#include "base/crash_point.h"
#include "base/error.h"
#include "base/file_io.h"
#include "imaging/image_file.h"
#include "imaging/image_grid.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "interrupt.h"
#include "pipeline/prompt_context.h"
#include "prompts/csv_table.h"
#include "prompts/prompt_template.h"
#include "run_clock.h"
#include "runtime/image_sampler.h"
#include "runtime/run_folder.h"
#include "runtime/text_encoder.h"
#include "store/store.h"
#include "text/clip_tokenizer.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;
using json = nlohmann::json;
using ordered_json = nlohmann::ordered_json;

constexpr const char* kGenerateFormat = "tessera-generate/1";
constexpr size_t kContactSheetImages = 64;

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
  return text;
}

// A seed for one purpose and one number (an image index, a batch), from the
// run's seed: independent streams whatever the batch size or the order of work.
uint64_t derive_seed(uint64_t seed, const std::string& purpose, uint64_t number) {
  std::string bytes = purpose;
  for (int i = 0; i < 8; ++i) bytes.push_back(char((number >> (8 * i)) & 0xff));
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

// ---- Where the three models come from --------------------------------------

struct ModelSources {
  std::string config;  // the LDM YAML of the denoiser and the diffusion settings
  std::string unet_weights;
  std::string vae_config, vae_weights;
  std::string text_config, text_weights;
  std::string template_name = "pathldm";
  size_t token_budget = 35;
  std::string expected_vae_id, expected_text_id;  // from run.json, "" when not stated
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
  if (manifest.has("token_budget")) {
    const uint64_t budget = manifest.unsigned_integer("token_budget");
    if (budget < 3 || budget > stages::kClipContext) {
      throw Error(run.manifest().string() + ": field \"token_budget\" must be an integer in 3..77");
    }
    s.token_budget = size_t(budget);
  }
  return s;
}

// ---- Prompts ------------------------------------------------------------------

struct PromptChoice {
  std::string text;
  std::string id;                  // prompt_id(text); the empty prompt's is prompt_id("")
  std::vector<int32_t> token_ids;  // with start and end tokens; empty: the text encoder's empty prompt
  std::string tumor, til;
  uint64_t weight = 1;  // tiles of the store that use it
};

// Which prompt image i gets: a pure function of the plan, the seed and i.
struct PromptPlan {
  enum class Mode { kCycle, kWeighted, kBalanced };
  Mode mode = Mode::kCycle;
  std::string kind;  // "txt", "csv" or "store"
  std::string balance;
  std::vector<PromptChoice> choices;
  // kBalanced: the field's values in bin order, each with its choices and
  // their cumulative weights.
  std::vector<std::string> values;
  std::vector<std::vector<size_t>> members;

  size_t weighted_pick(const std::vector<size_t>& candidates, uint64_t seed, uint64_t index) const {
    uint64_t total = 0;
    for (const size_t c : candidates) total += choices[c].weight;
    uint64_t r = derive_seed(seed, "prompt", index) % total;
    for (const size_t c : candidates) {
      if (r < choices[c].weight) return c;
      r -= choices[c].weight;
    }
    return candidates.back();
  }

  size_t pick(uint64_t seed, uint64_t index) const {
    switch (mode) {
      case Mode::kCycle:
        return size_t(index % choices.size());
      case Mode::kWeighted: {
        std::vector<size_t> all(choices.size());
        for (size_t i = 0; i < all.size(); ++i) all[i] = i;
        return weighted_pick(all, seed, index);
      }
      case Mode::kBalanced:
        break;
    }
    return weighted_pick(members[size_t(index % values.size())], seed, index);
  }

  // What the assignment of prompts to indices depends on, for generate.json.
  std::string fingerprint() const {
    std::string text = kind + '|' + balance;
    for (const auto& c : choices) text += '|' + c.id + ':' + std::to_string(c.weight);
    const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
    return hex64(h.high64) + hex64(h.low64);
  }
};

PromptChoice empty_prompt() {
  PromptChoice c;
  c.id = prompt_id("");
  return c;
}

text::ClipTokenizer load_tokenizer(const std::string& flag) {
  std::string path = flag;
  if (path.empty()) {
    if (const char* env = std::getenv("TESSERA_CLIP_VOCAB")) path = env;
  }
  if (path.empty()) {
    throw Error(
        "prompt files need the CLIP BPE vocabulary: pass --clip-vocab bpe_simple_vocab_16e6.txt.gz (from "
        "OpenAI CLIP's repository, MIT licence) or set TESSERA_CLIP_VOCAB");
  }
  return text::ClipTokenizer::from_bpe_gz(path);
}

PromptPlan plan_from_txt(const fs::path& file, const text::ClipTokenizer& tokenizer, size_t budget) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error("cannot read --prompts " + file.string() + ": " + std::strerror(errno));
  PromptPlan plan;
  plan.kind = "txt";
  const size_t limit = std::min(budget, stages::kClipContext);
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const size_t tokens = tokenizer.count_tokens(line);
    if (tokens > limit) {
      throw Error(file.string() + ":" + std::to_string(number) + ": the prompt has " + std::to_string(tokens) +
                  " CLIP tokens (start and end included), over the run's token budget of " + std::to_string(limit));
    }
    PromptChoice c;
    c.text = line;
    c.id = prompt_id(line);
    c.token_ids = tokenizer.tokenize(line, stages::kClipContext, /*truncate=*/false);
    plan.choices.push_back(std::move(c));
  }
  if (in.bad()) throw Error("cannot read --prompts " + file.string());
  if (plan.choices.empty()) throw Error(file.string() + " holds no prompts (blank lines are skipped)");
  return plan;
}

PromptPlan plan_from_csv(const fs::path& file, const text::ClipTokenizer& tokenizer, const ModelSources& models) {
  const auto table = stages::read_csv(file.string());
  const std::set<std::string> known = {"tumor", "til", "summary"};
  for (const auto& name : table.header) {
    if (!known.count(name)) {
      throw Error(file.string() + ": unknown column '" + name + "' (expected any of tumor, til, summary)");
    }
  }
  const auto column = [&](const std::string& name) -> std::optional<size_t> {
    const auto it = std::find(table.header.begin(), table.header.end(), name);
    if (it == table.header.end()) return std::nullopt;
    return size_t(it - table.header.begin());
  };
  const auto tumor = column("tumor"), til = column("til"), summary = column("summary");
  const auto prompt_template = stages::PromptTemplate::load(models.template_name);
  const auto count = [&tokenizer](std::string_view text) { return tokenizer.count_tokens(text); };
  PromptPlan plan;
  plan.kind = "csv";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    stages::PromptParts parts;
    const auto bin = [&](const std::optional<size_t>& col, const char* name) -> std::string {
      if (!col) return "";
      const std::string& value = row[*col];
      if (value.empty() || value == "low" || value == "medium" || value == "high") return value;
      throw Error(table.where(r) + ": column " + name + ": '" + value +
                  "' is not a bin word (low, medium or high; empty for none)");
    };
    parts.tumor = bin(tumor, "tumor");
    parts.til = bin(til, "til");
    if (summary) parts.summary = stages::split_summary(row[*summary]);
    const auto budgeted = stages::budget_prompt(prompt_template, parts, models.token_budget, count);
    PromptChoice c;
    c.text = budgeted.text;
    c.id = prompt_id(c.text);
    if (!c.text.empty()) c.token_ids = tokenizer.tokenize(c.text, stages::kClipContext, /*truncate=*/false);
    c.tumor = parts.tumor;
    c.til = parts.til;
    plan.choices.push_back(std::move(c));
  }
  if (plan.choices.empty()) throw Error(file.string() + " holds no prompt rows");
  return plan;
}

int bin_rank(const std::string& value) {
  if (value == "low") return 0;
  if (value == "medium") return 1;
  if (value == "high") return 2;
  return 3;
}

PromptPlan plan_from_store(const store::Store& store, const std::string& balance) {
  std::map<std::string, uint64_t> tiles_per_prompt;  // "" for tiles without a prompt
  for (const auto& slide : store.slides()) {
    if (slide.status != store::SlideStatus::kComplete) continue;
    store.for_each_tile(
        slide.id, [&](const store::TileKey&, const store::TileRecord& tile) { ++tiles_per_prompt[tile.prompt_id]; });
  }
  if (tiles_per_prompt.empty()) {
    throw Error("store " + store.dir().string() + " has no tiles of complete slides to draw prompts from");
  }
  PromptPlan plan;
  plan.kind = "store";
  plan.mode = PromptPlan::Mode::kWeighted;
  for (const auto& [id, tiles] : tiles_per_prompt) {
    PromptChoice c = empty_prompt();
    if (!id.empty()) {
      auto record = store.prompt(id);
      if (!record) {
        throw Error("store " + store.dir().string() + ": tiles refer to prompt " + id + ", which is not stored");
      }
      if (record->token_ids.empty()) {
        throw Error("prompt " + id + " in store " + store.dir().string() + " has no token ids");
      }
      c.text = record->text;
      c.id = id;
      c.token_ids = std::move(record->token_ids);
      c.tumor = record->tumor;
      c.til = record->til;
    }
    c.weight = tiles;
    plan.choices.push_back(std::move(c));
  }
  if (balance.empty()) return plan;

  plan.mode = PromptPlan::Mode::kBalanced;
  plan.balance = balance;
  std::map<std::pair<int, std::string>, std::vector<size_t>> by_value;
  for (size_t i = 0; i < plan.choices.size(); ++i) {
    const std::string& value = balance == "tumor" ? plan.choices[i].tumor : plan.choices[i].til;
    if (!value.empty()) by_value[{bin_rank(value), value}].push_back(i);
  }
  if (by_value.empty()) {
    throw Error("--balance " + balance + ": no prompt of store " + store.dir().string() + " has a " + balance +
                " value (ingest with --tile-attributes)");
  }
  for (auto& [key, members] : by_value) {
    plan.values.push_back(key.second);
    plan.members.push_back(std::move(members));
  }
  return plan;
}

// ---- The output folder ----------------------------------------------------------

std::string image_name(uint64_t index, const std::string& format) {
  char name[32];
  std::snprintf(name, sizeof name, "%06llu", (unsigned long long)index);
  return std::string("images/") + name + (format == "jpeg" ? ".jpg" : ".png");
}

// The settings the images depend on: a rerun into OUT must have the same.
void check_settings(const fs::path& out, const json& settings) {
  const fs::path path = out / "generate.json";
  std::error_code ec;
  if (!fs::exists(path, ec)) {
    if (fs::exists(out, ec) && !fs::is_empty(out, ec)) {
      throw Error("--out " + out.string() + " is not empty and has no generate.json: refusing to write into it");
    }
    return;
  }
  std::ifstream in(path);
  json existing;
  try {
    existing = json::parse(in);
  } catch (const json::parse_error& e) {
    throw Error(path.string() + ": not valid JSON: " + e.what());
  }
  if (!existing.is_object() || existing.value("format", "") != kGenerateFormat || !existing.contains("settings")) {
    throw Error(path.string() + ": not a " + std::string(kGenerateFormat) + " file");
  }
  const json& old = existing["settings"];
  std::vector<std::string> differences;
  std::set<std::string> keys;
  for (const auto& [key, value] : old.items()) keys.insert(key);
  for (const auto& [key, value] : settings.items()) keys.insert(key);
  for (const auto& key : keys) {
    const json a = old.contains(key) ? old[key] : json();
    const json b = settings.contains(key) ? settings[key] : json();
    if (a != b) differences.push_back(key + " " + a.dump() + " (now " + b.dump() + ")");
  }
  if (!differences.empty()) {
    std::string list;
    for (const auto& d : differences) list += (list.empty() ? "" : ", ") + d;
    throw Error(out.string() + " was generated with other settings: " + list +
                "; rerun with the same settings to continue, or choose another --out");
  }
}

// Index -> file of the rows already in OUT/manifest.jsonl. A last line
// without its newline is a write a kill cut short: it is dropped.
std::map<uint64_t, std::string> read_manifest(const fs::path& out) {
  std::map<uint64_t, std::string> rows;
  const fs::path path = out / "manifest.jsonl";
  std::error_code ec;
  if (!fs::exists(path, ec)) return rows;
  std::string text = tessera::read_file(path);
  if (!text.empty() && text.back() != '\n') {
    const size_t keep = text.rfind('\n') == std::string::npos ? 0 : text.rfind('\n') + 1;
    spdlog::warn("{}: dropping an unfinished last line", path.string());
    text.resize(keep);
    fs::resize_file(path, keep);
  }
  std::istringstream lines(text);
  std::string line;
  for (size_t number = 1; std::getline(lines, line); ++number) {
    if (line.find_first_not_of(" \t\r") == std::string::npos) continue;
    const std::string where = path.string() + ":" + std::to_string(number);
    json row;
    try {
      row = json::parse(line);
    } catch (const json::parse_error& e) {
      throw Error(where + ": not valid JSON: " + e.what());
    }
    if (!row.is_object() || !row.contains("index") || !row["index"].is_number_unsigned()) {
      throw Error(where + ": field \"index\" is missing or not a non-negative integer");
    }
    if (!row.contains("file") || !row["file"].is_string()) throw Error(where + ": field \"file\" is missing");
    const uint64_t index = row["index"].get<uint64_t>();
    const std::string file = row["file"].get<std::string>();
    if (!fs::is_regular_file(out / file, ec)) {
      throw Error(where + ": names " + (out / file).string() + ", which is missing; remove the line to redo it");
    }
    if (!rows.emplace(index, file).second) throw Error(where + ": index " + std::to_string(index) + " appears twice");
  }
  return rows;
}

void write_contact_sheet(const fs::path& out, const std::map<uint64_t, std::string>& rows) {
  std::vector<std::string> files;
  for (const auto& [index, file] : rows) {
    if (files.size() == kContactSheetImages) break;
    files.push_back((out / file).string());
  }
  if (files.empty()) return;
  std::vector<stages::RgbImage> images(files.size());
  tbb::parallel_for(size_t{0}, files.size(), [&](size_t i) { images[i] = stages::read_image(files[i]); });
  const int columns = int(std::ceil(std::sqrt(double(images.size()))));
  const fs::path temporary = out / "contact_sheet.png.partial";
  stages::save_png(stages::make_image_grid(images, columns), temporary.string());
  fs::rename(temporary, out / "contact_sheet.png");
}

// ---- The run ------------------------------------------------------------------------

struct BatchJob {
  uint64_t batch = 0;
  std::vector<uint64_t> indices;  // every index of the batch
  std::vector<bool> missing;      // which of them OUT lacks
  std::vector<stages::RgbImage> images;
};
using JobPtr = std::shared_ptr<BatchJob>;

std::set<uint64_t> keys_of(const std::map<uint64_t, std::string>& rows) {
  std::set<uint64_t> keys;
  for (const auto& [index, file] : rows) keys.insert(index);
  return keys;
}

class GenerateRun {
 public:
  GenerateRun(const GenerateOptions& options, runtime::ImageSampler& sampler, const PromptPlan& plan,
              const std::vector<size_t>& assignment, const std::map<std::string, store::TensorRecord>& embeddings,
              const std::string& cond_stage_id, std::map<uint64_t, std::string>& rows, Progress& progress)
      : options_(options),
        sampler_(sampler),
        plan_(plan),
        assignment_(assignment),
        embeddings_(embeddings),
        cond_stage_id_(cond_stage_id),
        rows_(rows),
        present_(keys_of(rows)),
        progress_(progress) {}

  void run(GenerateSummary& summary);

 private:
  std::optional<JobPtr> next_batch();
  void sample(BatchJob& job);
  void write(BatchJob& job, GenerateSummary& summary);
  std::string manifest_row(uint64_t index, const std::string& file) const;

  const GenerateOptions& options_;
  runtime::ImageSampler& sampler_;
  const PromptPlan& plan_;
  const std::vector<size_t>& assignment_;
  const std::map<std::string, store::TensorRecord>& embeddings_;
  std::string cond_stage_id_;
  std::map<uint64_t, std::string>& rows_;  // extended by the writer
  const std::set<uint64_t> present_;       // the rows before the run, read by the source
  Progress& progress_;
  uint64_t next_batch_ = 0;
  std::string failure_;  // the first error; the source stops at it
};

std::optional<JobPtr> GenerateRun::next_batch() {
  const uint64_t batch = options_.batch;
  const uint64_t batches = (options_.n + batch - 1) / batch;
  while (!stop_requested() && failure_.empty() && next_batch_ < batches) {
    auto job = std::make_shared<BatchJob>();
    job->batch = next_batch_++;
    bool any = false;
    for (uint64_t i = job->batch * batch; i < std::min(options_.n, (job->batch + 1) * batch); ++i) {
      job->indices.push_back(i);
      job->missing.push_back(!present_.count(i));
      any = any || job->missing.back();
    }
    if (any) return job;
  }
  return std::nullopt;
}

void GenerateRun::sample(BatchJob& job) {
  if (!failure_.empty()) return;
  try {
    std::vector<const store::TensorRecord*> contexts;
    std::vector<uint64_t> noise_seeds;
    for (const uint64_t i : job.indices) {
      contexts.push_back(&embeddings_.at(plan_.choices[assignment_[i]].id));
      noise_seeds.push_back(derive_seed(options_.seed, "x_T", i));
    }
    job.images = sampler_.sample(contexts, embeddings_.at(prompt_id("")), noise_seeds,
                                 derive_seed(options_.seed, "steps", job.batch));
  } catch (const std::exception& e) {
    failure_ = "batch " + std::to_string(job.batch) + ": " + e.what();
  }
}

std::string GenerateRun::manifest_row(uint64_t index, const std::string& file) const {
  const auto& choice = plan_.choices[assignment_[index]];
  ordered_json fields = ordered_json::object();
  if (!choice.tumor.empty()) fields["tumor"] = choice.tumor;
  if (!choice.til.empty()) fields["til"] = choice.til;
  ordered_json row;
  row["file"] = file;
  row["prompt"] = choice.text;
  row["prompt_id"] = choice.id;
  row["seed"] = options_.seed;
  row["index"] = index;
  row["fields"] = fields;
  row["model_ids"] = {
      {"unet", sampler_.unet_id()}, {"first_stage", sampler_.first_stage_id()}, {"cond_stage", cond_stage_id_}};
  row["sampler"] = {{"name", sampler_.sampler_name()},
                    {"steps", sampler_.steps()},
                    {"eta", sampler_.eta()},
                    {"guidance", sampler_.guidance()}};
  row["synthetic"] = true;
  return row.dump();
}

void GenerateRun::write(BatchJob& job, GenerateSummary& summary) {
  if (!failure_.empty() || job.images.size() != job.indices.size()) return;
  try {
    std::vector<size_t> unwritten;
    for (size_t k = 0; k < job.indices.size(); ++k) {
      if (job.missing[k]) unwritten.push_back(k);
    }
    std::vector<std::string> files(job.indices.size());
    tbb::parallel_for(size_t{0}, unwritten.size(), [&](size_t t) {
      const size_t k = unwritten[t];
      files[k] = image_name(job.indices[k], options_.format);
      const fs::path path = options_.out / files[k];
      if (options_.format == "jpeg") {
        stages::JpegOptions jpeg;
        jpeg.quality = 90;
        tessera::write_file(path, stages::encode_jpeg(job.images[k], jpeg));
      } else {
        stages::save_png(job.images[k], path.string());
      }
    });
    // Rows only once their images exist, in one append: the manifest never
    // names a file that is not there.
    std::string lines;
    for (const size_t k : unwritten) lines += manifest_row(job.indices[k], files[k]) + '\n';
    const fs::path manifest = options_.out / "manifest.jsonl";
    std::ofstream out(manifest, std::ios::binary | std::ios::app);
    out << lines;
    out.close();
    if (!out) throw Error("cannot append to " + manifest.string() + ": " + std::strerror(errno));
    for (const size_t k : unwritten) rows_[job.indices[k]] = files[k];
    summary.generated += unwritten.size();
    ++summary.batches;
    progress_.tiles_done(unwritten.size());
  } catch (const std::exception& e) {
    failure_ = "batch " + std::to_string(job.batch) + ": " + e.what();
    return;
  }
  job.images.clear();
  crash_point("generate.batch_written");
}

void GenerateRun::run(GenerateSummary& summary) {
  using namespace tbb::flow;
  graph g;
  input_node<JobPtr> source(g, [this](tbb::flow_control& control) -> JobPtr {
    if (auto job = next_batch()) return *job;
    control.stop();
    return {};
  });
  // Two batches: the next one samples while the last one's images are written.
  limiter_node<JobPtr> limiter(g, 2);
  function_node<JobPtr, JobPtr> sampler(g, serial, [this](const JobPtr& job) {
    sample(*job);
    return job;
  });
  function_node<JobPtr, continue_msg> writer(g, serial, [this, &summary](const JobPtr& job) {
    write(*job, summary);
    return continue_msg();
  });
  make_edge(source, limiter);
  make_edge(limiter, sampler);
  make_edge(sampler, writer);
  make_edge(writer, limiter.decrementer());
  source.activate();
  g.wait_for_all();
  if (!failure_.empty()) throw Error(failure_);
}

}  // namespace

GenerateSummary run_generate(const GenerateOptions& options) {
  const RunClock clock;
  if (options.n == 0) throw Error("--n must be at least 1");
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

  // Every model is loaded and checked before OUT is touched.
  const ModelSources models = resolve_models(options);
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
  runtime::ImageSampler sampler(sampling);
  runtime::TextEncoderOptions text_options;
  text_options.config = models.text_config;
  text_options.weights = models.text_weights;
  text_options.device = options.device;
  text_options.compute_dtype = options.compute_dtype;
  text_options.threads = options.threads;
  // Embeddings computed here are rounded as `tessera encode-text` stores
  // them, so an image does not depend on whether the store had its prompt.
  text_options.stored_dtype = store::TensorDType::kF16;
  runtime::TextEncoder text_encoder(text_options);
  if (!models.expected_vae_id.empty() && models.expected_vae_id != sampler.first_stage_id()) {
    throw Error(options.run.string() + "/run.json: the run was trained on first stage " + models.expected_vae_id +
                ", but " + models.vae_weights + " is now " + sampler.first_stage_id());
  }
  if (!models.expected_text_id.empty() && models.expected_text_id != text_encoder.model_id()) {
    throw Error(options.run.string() + "/run.json: the run was trained on text encoder " + models.expected_text_id +
                ", but " + models.text_weights + " is now " + text_encoder.model_id());
  }

  std::unique_ptr<store::Store> store;
  PromptPlan plan;
  if (!options.from_store.empty()) {
    store::StoreOptions read_only;
    read_only.read_only = true;
    store = store::Store::open(options.from_store, read_only);
    plan = plan_from_store(*store, options.balance);
  } else {
    const auto tokenizer = load_tokenizer(options.clip_vocab);
    const std::string extension = options.prompts.extension().string();
    if (extension == ".txt") {
      plan = plan_from_txt(options.prompts, tokenizer, models.token_budget);
    } else if (extension == ".csv") {
      plan = plan_from_csv(options.prompts, tokenizer, models);
    } else {
      throw Error("--prompts " + options.prompts.string() + ": expected a .txt (one prompt per line) or .csv file");
    }
  }
  std::vector<size_t> assignment(options.n);
  std::set<size_t> used;
  for (uint64_t i = 0; i < options.n; ++i) used.insert(assignment[i] = plan.pick(options.seed, i));

  GenerateSummary summary;
  summary.out = options.out;
  summary.requested = options.n;
  summary.unet_id = sampler.unet_id();
  summary.first_stage_id = sampler.first_stage_id();
  summary.cond_stage_id = text_encoder.model_id();
  summary.checkpoint = models.unet_weights;
  summary.prompts = used.size();

  const json settings = {{"unet", sampler.unet_id()},
                         {"first_stage", sampler.first_stage_id()},
                         {"cond_stage", text_encoder.model_id()},
                         {"sampler", sampler.sampler_name()},
                         {"steps", sampler.steps()},
                         {"eta", sampler.eta()},
                         {"guidance", sampler.guidance()},
                         {"seed", options.seed},
                         {"batch", options.batch},
                         {"format", options.format},
                         {"dtype", options.compute_dtype},
                         {"prompts", {{"kind", plan.kind}, {"balance", plan.balance}, {"hash", plan.fingerprint()}}}};
  check_settings(options.out, settings);
  fs::create_directories(options.out / "images");
  tessera::write_file_atomically(options.out / "generate.json",
                                 json{{"format", kGenerateFormat},
                                      {"settings", settings},
                                      {"n", options.n},
                                      {"checkpoint", fs::absolute(models.unet_weights).string()},
                                      {"updated", utc_now()}}
                                         .dump(2) +
                                     "\n");
  auto rows = read_manifest(options.out);
  uint64_t missing = 0;
  for (uint64_t i = 0; i < options.n; ++i) missing += rows.count(i) ? 0 : 1;
  summary.present = options.n - missing;

  // The contexts: the store's embeddings of the run's text encoder where it
  // has them, the rest (and always the unconditional one, if absent) encoded here.
  std::map<std::string, store::TensorRecord> embeddings;
  std::vector<std::pair<std::string, std::vector<int32_t>>> to_encode;
  const auto need = [&](const PromptChoice& choice) {
    if (embeddings.count(choice.id)) return;
    if (store) {
      if (auto stored = store->embedding(text_encoder.model_id(), choice.id)) {
        embeddings.emplace(choice.id, std::move(*stored));
        return;
      }
    }
    for (const auto& [id, ids] : to_encode) {
      if (id == choice.id) return;
    }
    to_encode.emplace_back(choice.id, choice.token_ids.empty() ? text_encoder.empty_prompt_ids() : choice.token_ids);
  };
  if (missing > 0) {
    need(empty_prompt());
    for (const size_t c : used) need(plan.choices[c]);
    constexpr size_t kTextBatch = 32;
    for (size_t begin = 0; begin < to_encode.size(); begin += kTextBatch) {
      const size_t end = std::min(to_encode.size(), begin + kTextBatch);
      std::vector<std::vector<int32_t>> ids;
      for (size_t i = begin; i < end; ++i) ids.push_back(to_encode[i].second);
      auto records = text_encoder.encode(ids);
      for (size_t i = begin; i < end; ++i) embeddings.emplace(to_encode[i].first, std::move(records[i - begin]));
    }
  }

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
    GenerateRun run(options, sampler, plan, assignment, embeddings, text_encoder.model_id(), rows, progress);
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
