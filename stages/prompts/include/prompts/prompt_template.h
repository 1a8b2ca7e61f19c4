#pragma once

#include <cstddef>
#include <functional>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "prompts/prompt_options.h"
#include "prompts/report_fields.h"

namespace tessera::stages {

// Counts a text's CLIP tokens, start and end tokens included.
using TokenCounter = std::function<size_t(std::string_view)>;

// A prompt template: segments separated by ';', each holding at most one
// {slot} (tumor, til or summary) among literal words. A segment whose
// slot has no value is left out whole, so "{tumor} tumor; {til} til;
// {summary}" without tile attributes becomes just the summary.
class PromptTemplate {
 public:
  static PromptTemplate parse(const std::string& text, const std::string& origin);
  // NAME (schemas/templates/NAME.txt) or a path to a template file.
  static PromptTemplate load(const std::string& name_or_path);

  const std::string& text() const { return text_; }
  const std::string& name() const { return name_; }

  struct Segment {
    std::string before, slot, after;  // slot "" for literal-only segments
  };
  const std::vector<Segment>& segments() const { return segments_; }

 private:
  std::string text_;
  std::string name_;
  std::vector<Segment> segments_;
};

// The summary as clauses in priority order (first = most important), so the
// budget can drop whole clauses from the end.
std::vector<std::string> compose_summary(const std::vector<ReportField>& fields);
// A user-supplied summary (e.g. from an LLM) split into its clauses at ',' and
// ';', in the order written.
std::vector<std::string> split_summary(std::string_view summary);

struct PromptParts {
  std::string tumor;                 // a bin word, or "" when missing
  std::string til;                   // likewise
  std::vector<std::string> summary;  // clauses, most important first
};

struct BudgetedPrompt {
  std::string text;
  size_t tokens = 0;                 // CLIP tokens including start and end
  std::vector<std::string> dropped;  // what the budget removed, in order
};

// Renders the template within `budget` tokens (at most kClipContext). Whole parts are
// dropped until it fits, in this order: summary clauses from the least
// important, then the til segment, then the tumor segment, then the last
// summary clause. Never cuts a word; the result may be "" (the unconditional
// prompt) when even one part is over budget.
BudgetedPrompt budget_prompt(const PromptTemplate& prompt_template, const PromptParts& parts, size_t budget,
                             const TokenCounter& count_tokens);

}  // namespace tessera::stages
