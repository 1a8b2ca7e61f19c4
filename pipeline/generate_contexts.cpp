#include "generate_contexts.h"

#include <algorithm>
#include <utility>
#include <vector>

#include "store/store.h"

namespace tessera::pipeline {
namespace {

constexpr size_t kTextBatch = 32;  // prompts per text encoder call

}  // namespace

std::map<std::string, store::TensorRecord> prompt_contexts(const PromptPlan& plan, const std::set<size_t>& used,
                                                           const store::Store* store,
                                                           runtime::TextEncoder& text_encoder) {
  std::map<std::string, store::TensorRecord> contexts;
  std::vector<std::pair<std::string, std::vector<int32_t>>> to_encode;
  const auto need = [&](const PromptChoice& choice) {
    if (contexts.count(choice.id)) return;
    if (store) {
      if (auto stored = store->embedding(text_encoder.model_id(), choice.id)) {
        contexts.emplace(choice.id, std::move(*stored));
        return;
      }
    }
    for (const auto& [id, ids] : to_encode) {
      if (id == choice.id) return;
    }
    to_encode.emplace_back(choice.id, choice.token_ids.empty() ? text_encoder.empty_prompt_ids() : choice.token_ids);
  };
  need(empty_prompt());
  for (const size_t c : used) need(plan.choices[c]);
  for (size_t begin = 0; begin < to_encode.size(); begin += kTextBatch) {
    const size_t end = std::min(to_encode.size(), begin + kTextBatch);
    std::vector<std::vector<int32_t>> ids;
    for (size_t i = begin; i < end; ++i) ids.push_back(to_encode[i].second);
    auto records = text_encoder.encode(ids);
    for (size_t i = begin; i < end; ++i) contexts.emplace(to_encode[i].first, std::move(records[i - begin]));
  }
  return contexts;
}

}  // namespace tessera::pipeline
