#include "pipeline/encode_text.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <set>
#include <utility>
#include <vector>

#include "base/error.h"
#include "interrupt.h"
#include "run_clock.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"
#include "store/store.h"

namespace tessera::pipeline {

EncodeTextSummary run_encode_text(const EncodeTextOptions& options) {
  if (options.batch == 0) throw Error("--batch must be at least 1");
  const RunClock clock;
  auto store = store::Store::open(options.store);
  runtime::TextEncoderOptions encoder_options = options.encoder;
  encoder_options.vocabulary = store->vocabulary();
  runtime::TextEncoder encoder(encoder_options);
  InterruptScope interrupt;

  EncodeTextSummary summary;
  summary.model_id = encoder.model_id();
  summary.empty_prompt_id = store::prompt_id("");
  const auto done_ids = store->embedded_prompt_ids(encoder.model_id());
  std::set<std::string> done(done_ids.begin(), done_ids.end());
  auto record = encoder.model_record();
  if (const auto registered = store->model(encoder.model_id())) {
    if (!registered->vocabulary.empty()) {
      runtime::require_vocabulary(registered->vocabulary,
                                  "text model " + registered->id + " in store " + options.store.string(),
                                  record.vocabulary, "the store's prompts");
    } else if (!record.vocabulary.empty()) {
      // It has embedded only the empty prompt, or CLIP's prompts before
      // vocabularies were recorded: the empty prompt is embedded again with
      // this vocabulary's start and end tokens.
      done.erase(summary.empty_prompt_id);
    }
  }

  std::vector<std::pair<std::string, std::vector<int32_t>>> missing;
  const auto consider = [&](const std::string& id, std::vector<int32_t> ids) {
    ++summary.prompts;
    if (done.count(id)) {
      ++summary.present;
    } else {
      missing.emplace_back(id, std::move(ids));
    }
  };
  consider(summary.empty_prompt_id, encoder.empty_prompt_ids());
  for (auto& prompt : store->prompts()) {
    if (prompt.token_ids.empty()) {
      throw Error("prompt " + prompt.id + " in store " + options.store.string() + " has no token ids");
    }
    if (!prompt.vocabulary.empty() && prompt.vocabulary != record.vocabulary) {
      runtime::require_vocabulary(record.vocabulary, "store " + options.store.string(), prompt.vocabulary,
                                  "prompt " + prompt.id);
    }
    consider(prompt.id, std::move(prompt.token_ids));
  }
  if (missing.empty()) {
    summary.seconds = clock.seconds();
    return summary;
  }
  // The first record stays; only the vocabulary it now embeds is added.
  if (auto registered = store->model(record.id)) {
    registered->vocabulary = record.vocabulary;
    store->put_model(*registered);
  } else {
    record.registered_at = utc_now();
    store->put_model(record);
  }

  const auto mode = resolve_mode(options.progress);
  Progress progress(mode, 1, std::chrono::seconds(10), {"prompts", ""});
  progress.slide_planned(missing.size());
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("encode-text: {} of {} prompts to embed with model {}", missing.size(), summary.prompts,
                 encoder.model_id());
  }
  for (size_t begin = 0; begin < missing.size() && !stop_requested(); begin += options.batch) {
    const size_t end = std::min(missing.size(), begin + options.batch);
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = begin; i < end; ++i) ids.push_back(missing[i].second);
    auto records = encoder.encode(ids);
    std::vector<std::pair<std::string, store::TensorRecord>> rows;
    for (size_t i = begin; i < end; ++i) rows.emplace_back(missing[i].first, std::move(records[i - begin]));
    store->put_embeddings(encoder.model_id(), rows);
    summary.encoded += end - begin;
    progress.tiles_done(end - begin);
  }
  progress.finish();
  summary.interrupted = stop_requested();
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
