#include "generate_prompts.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdio>
#include <map>
#include <optional>
#include <set>
#include <utility>

#include "base/error.h"
#include "generate_seed.h"
#include "prompts/clip_vocabulary.h"
#include "prompts/csv_table.h"
#include "prompts/probability_bin.h"
#include "prompts/prompt_composer.h"
#include "prompts/prompt_lines.h"
#include "prompts/prompt_template.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"
#include "store/store.h"
#include "text/clip_tokenizer.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
  return text;
}

runtime::Vocabulary load_vocabulary(const std::string& flag, const std::string& run_vocabulary) {
  return runtime::load_vocabulary(stages::clip_vocabulary_path(flag, "prompt files", "", run_vocabulary));
}

PromptPlan plan_from_txt(const fs::path& file, std::vector<stages::PromptLine> lines,
                         const text::ClipTokenizer& tokenizer, size_t budget) {
  PromptPlan plan;
  plan.kind = "txt";
  const size_t limit = std::min(budget, stages::kClipContext);
  for (auto& [number, line] : lines) {
    const size_t tokens = tokenizer.count_tokens(line);
    if (tokens > limit) {
      throw Error(file.string() + ":" + std::to_string(number) + ": the prompt has " + std::to_string(tokens) +
                  " CLIP tokens (start and end included), over the run's token budget of " + std::to_string(limit));
    }
    PromptChoice c;
    c.id = store::prompt_id(line);
    c.token_ids = tokenizer.tokenize(line, stages::kClipContext, /*truncate=*/false);
    c.text = std::move(line);
    plan.choices.push_back(std::move(c));
  }
  if (plan.choices.empty()) throw Error(file.string() + " holds no prompts (blank lines are skipped)");
  return plan;
}

PromptPlan plan_from_csv(const stages::CsvTable& table, const stages::PromptComposer& composer) {
  const std::set<std::string> known = {"tumor", "til", "summary"};
  for (const auto& name : table.header) {
    if (!known.count(name)) {
      throw Error(table.source + ": unknown column '" + name + "' (expected any of tumor, til, summary)");
    }
  }
  const auto column = [&](const std::string& name) -> std::optional<size_t> {
    const auto it = std::find(table.header.begin(), table.header.end(), name);
    if (it == table.header.end()) return std::nullopt;
    return size_t(it - table.header.begin());
  };
  const auto tumor = column("tumor"), til = column("til"), summary = column("summary");
  PromptPlan plan;
  plan.kind = "csv";
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    stages::PromptParts parts;
    const auto bin = [&](const std::optional<size_t>& col, const char* name) -> std::string {
      if (!col) return "";
      const std::string& value = row[*col];
      if (value.empty() || stages::probability_bin_rank(value)) return value;
      throw Error(table.where(r) + ": column " + name + ": '" + value +
                  "' is not a bin word (low, medium or high; empty for none)");
    };
    parts.tumor = bin(tumor, "tumor");
    parts.til = bin(til, "til");
    if (summary) parts.summary = stages::split_summary(row[*summary]);
    auto composed = composer.compose(parts);
    PromptChoice c;
    c.text = std::move(composed.text);
    c.id = store::prompt_id(c.text);
    c.token_ids = std::move(composed.token_ids);
    c.tumor = parts.tumor;
    c.til = parts.til;
    plan.choices.push_back(std::move(c));
  }
  if (plan.choices.empty()) throw Error(table.source + " holds no prompt rows");
  return plan;
}

// One of `candidates`, drawn in proportion to their weights.
size_t weighted_pick(const std::vector<PromptChoice>& choices, const std::vector<size_t>& candidates, uint64_t seed,
                     uint64_t index) {
  uint64_t total = 0;
  for (const size_t c : candidates) total += choices[c].weight;
  uint64_t r = derive_seed(seed, "prompt", index) % total;
  for (const size_t c : candidates) {
    if (r < choices[c].weight) return c;
    r -= choices[c].weight;
  }
  return candidates.back();
}

size_t bin_rank(const std::string& value) {
  return stages::probability_bin_rank(value).value_or(stages::kProbabilityBins.size());
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
  std::map<std::pair<size_t, std::string>, std::vector<size_t>> by_value;
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

}  // namespace

PromptChoice empty_prompt() {
  PromptChoice c;
  c.id = store::prompt_id("");
  return c;
}

size_t PromptPlan::pick(uint64_t seed, uint64_t index) const {
  switch (mode) {
    case Mode::kCycle:
      return size_t(index % choices.size());
    case Mode::kWeighted: {
      std::vector<size_t> all(choices.size());
      for (size_t i = 0; i < all.size(); ++i) all[i] = i;
      return weighted_pick(choices, all, seed, index);
    }
    case Mode::kBalanced:
      break;
  }
  return weighted_pick(choices, members[size_t(index % values.size())], seed, index);
}

std::string PromptPlan::fingerprint() const {
  std::string text = kind + '|' + balance;
  for (const auto& c : choices) text += '|' + c.id + ':' + std::to_string(c.weight);
  const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return hex64(h.high64) + hex64(h.low64);
}

PromptPlan plan_prompts(const GenerateOptions& options, const store::Store* store, const std::string& template_name,
                        size_t token_budget, const std::string& run_vocabulary) {
  if (store) {
    auto plan = plan_from_store(*store, options.balance);
    plan.vocabulary = store->vocabulary();
    return plan;
  }
  // The file is read and checked whole before the vocabulary loads.
  const std::string extension = options.prompts.extension().string();
  if (extension == ".txt") {
    auto lines = stages::read_prompt_lines(options.prompts.string());
    auto vocabulary = load_vocabulary(options.clip_vocab, run_vocabulary);
    auto plan = plan_from_txt(options.prompts, std::move(lines), vocabulary.tokenizer, token_budget);
    plan.vocabulary = std::move(vocabulary.record);
    return plan;
  }
  if (extension == ".csv") {
    const auto table = stages::read_csv(options.prompts.string());
    auto vocabulary = load_vocabulary(options.clip_vocab, run_vocabulary);
    const stages::PromptComposer composer(stages::PromptTemplate::load(template_name), token_budget,
                                          vocabulary.tokenizer);
    auto plan = plan_from_csv(table, composer);
    plan.vocabulary = std::move(vocabulary.record);
    return plan;
  }
  throw Error("--prompts " + options.prompts.string() + ": expected a .txt (one prompt per line) or .csv file");
}

}  // namespace tessera::pipeline
