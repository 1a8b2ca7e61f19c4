#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "prompts/prompt_template.h"
#include "prompts/report_fields.h"
#include "text/clip_tokenizer.h"

namespace tessera::stages {

// A case's summary clauses and where they came from, as a prompt's provenance
// records it.
struct CaseSummary {
  std::vector<std::string> clauses;  // most important first
  std::string source = "none";       // "user-summary", "report" or "none"
};

// The summary of a case's prompts: its user summary when it has one (it
// replaces the report's), else the one composed from its report's fields, else
// none. Either argument may be null.
CaseSummary choose_summary(const std::vector<ReportField>* report_fields, const std::string* user_summary);

struct ComposedPrompt {
  std::string text;                  // "" is the unconditional prompt
  std::vector<int32_t> token_ids;    // CLIP ids of `text`, start and end tokens included
  std::vector<std::string> dropped;  // what the budget removed, in order
};

// Every prompt tessera stores, previews or generates from is made here: the
// template rendered within the token budget (budget_prompt), and the CLIP
// token ids of the result.
class PromptComposer {
 public:
  // Throws tessera::Error when `token_budget` is outside
  // kMinTokenBudget..kClipContext.
  PromptComposer(PromptTemplate prompt_template, size_t token_budget, text::ClipTokenizer tokenizer);

  ComposedPrompt compose(const PromptParts& parts) const;

  const PromptTemplate& prompt_template() const { return template_; }
  size_t token_budget() const { return token_budget_; }
  const text::ClipTokenizer& tokenizer() const { return tokenizer_; }

 private:
  PromptTemplate template_;
  size_t token_budget_;
  text::ClipTokenizer tokenizer_;
};

}  // namespace tessera::stages
