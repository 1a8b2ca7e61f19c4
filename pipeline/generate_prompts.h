#pragma once

// Which prompt each image of `tessera generate` gets: the prompts of a .txt
// or .csv file, or the store's own, and the draw of one per image index.

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "pipeline/generate.h"
#include "store/vocabulary_record.h"

namespace tessera::store {
class Store;
}

namespace tessera::pipeline {

struct PromptChoice {
  std::string text;
  std::string id;                  // prompt_id(text); the empty prompt's is prompt_id("")
  std::vector<int32_t> token_ids;  // with start and end tokens; empty: the text encoder's empty prompt
  std::string tumor, til;
  uint64_t weight = 1;  // tiles of the store that use it
};

// The unconditional prompt, the other input of classifier-free guidance.
PromptChoice empty_prompt();

// Which prompt image i gets: a pure function of the plan, the seed and i.
struct PromptPlan {
  enum class Mode { kCycle, kWeighted, kBalanced };
  Mode mode = Mode::kCycle;
  std::string kind;  // "txt", "csv" or "store"
  std::string balance;
  std::vector<PromptChoice> choices;
  // kBalanced: the field's values in bin order, and for each value the
  // indices of the choices that have it.
  std::vector<std::string> values;
  std::vector<std::vector<size_t>> members;
  // The vocabulary of the choices' token ids; std::nullopt for a store
  // without prompts.
  std::optional<store::VocabularyRecord> vocabulary;

  // The index into `choices` of image `index`'s prompt.
  size_t pick(uint64_t seed, uint64_t index) const;
  // What the assignment of prompts to indices depends on, for generate.json.
  std::string fingerprint() const;
};

// The plan of options.prompts (.txt verbatim, .csv composed with the run's
// template within its token budget) or, given `store`, of the store's tiles
// (options.balance: an equal share per value of that field). A file's prompts
// are tokenised with options.clip_vocab, else $TESSERA_CLIP_VOCAB, else
// `run_vocabulary` (the file the run's vocabulary was read from; "" for
// none). Throws tessera::Error naming the file and line, or the store and
// prompt, at fault.
PromptPlan plan_prompts(const GenerateOptions& options, const store::Store* store, const std::string& template_name,
                        size_t token_budget, const std::string& run_vocabulary);

}  // namespace tessera::pipeline
