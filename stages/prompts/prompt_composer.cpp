#include "prompts/prompt_composer.h"

#include <utility>

#include "prompts/prompt_options.h"

namespace tessera::stages {

CaseSummary choose_summary(const std::vector<ReportField>* report_fields, const std::string* user_summary) {
  CaseSummary summary;
  if (user_summary) {
    summary.clauses = split_summary(*user_summary);
    summary.source = "user-summary";
  } else if (report_fields) {
    summary.clauses = compose_summary(*report_fields);
    summary.source = "report";
  }
  return summary;
}

PromptComposer::PromptComposer(PromptTemplate prompt_template, size_t token_budget, text::ClipTokenizer tokenizer)
    : template_(std::move(prompt_template)), token_budget_(token_budget), tokenizer_(std::move(tokenizer)) {
  check_token_budget(token_budget_, "the token budget");
}

ComposedPrompt PromptComposer::compose(const PromptParts& parts) const {
  const auto count = [this](std::string_view text) { return tokenizer_.count_tokens(text); };
  auto budgeted = budget_prompt(template_, parts, token_budget_, count);
  ComposedPrompt prompt;
  prompt.token_ids = tokenizer_.tokenize(budgeted.text, kClipContext, /*truncate=*/false);
  prompt.text = std::move(budgeted.text);
  prompt.dropped = std::move(budgeted.dropped);
  return prompt;
}

}  // namespace tessera::stages
