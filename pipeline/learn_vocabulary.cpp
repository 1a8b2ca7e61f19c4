#include "pipeline/learn_vocabulary.h"

#include <algorithm>
#include <map>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"
#include "prompts/probability_bin.h"
#include "prompts/prompt_composer.h"
#include "prompts/prompt_template.h"
#include "prompts/report_fields.h"
#include "prompts/user_summaries.h"
#include "runtime/vocabulary.h"
#include "text/clip_tokenizer.h"

namespace tessera::pipeline {
namespace {

// The parts of every prompt ingest can make of these summaries: each under
// every pair of tumour and TIL bins, missing included.
std::vector<stages::PromptParts> every_prompt(const std::vector<std::vector<std::string>>& summaries) {
  std::vector<std::string> bins = {""};
  bins.insert(bins.end(), stages::kProbabilityBins.begin(), stages::kProbabilityBins.end());
  std::vector<stages::PromptParts> prompts;
  for (const auto& clauses : summaries) {
    for (const auto& tumor : bins) {
      for (const auto& til : bins) prompts.push_back({tumor, til, clauses});
    }
  }
  return prompts;
}

}  // namespace

LearnVocabularySummary learn_vocabulary(const LearnVocabularyOptions& options) {
  if (options.out.empty()) throw Error("--out is required");
  const auto prompt_template = stages::PromptTemplate::load(options.prompt_template);
  stages::check_token_budget(options.token_budget, "--token-budget");
  const auto reports = stages::read_reports(options.reports, options.report_columns);
  const auto user_summaries = options.summaries.empty()
                                  ? std::map<std::string, std::string>()
                                  : stages::read_user_summaries(options.summaries, options.report_columns.id_column);
  std::vector<std::vector<std::string>> summaries;
  for (const auto& report : reports) {
    const auto fields = stages::extract_report_fields(report.text);
    const auto user_summary = user_summaries.find(report.case_id);
    summaries.push_back(
        stages::choose_summary(&fields, user_summary == user_summaries.end() ? nullptr : &user_summary->second)
            .clauses);
  }

  // Rendered in full: a counter that finds every prompt short keeps every part.
  const stages::TokenCounter no_budget = [](std::string_view) { return size_t{0}; };
  const auto prompts = every_prompt(summaries);
  std::vector<std::string> corpus;
  for (const auto& parts : prompts) corpus.push_back(stages::budget_prompt(prompt_template, parts, 1, no_budget).text);
  for (const auto& report : reports) corpus.push_back(report.text);
  for (const auto& path : options.texts) {
    std::istringstream lines(read_file(path));
    for (std::string line; std::getline(lines, line);) {
      if (!line.empty()) corpus.push_back(line);
    }
  }

  const auto merges = text::learn_bpe_merges(corpus, options.learning);
  write_file_atomically(options.out, text::clip_vocabulary_file(merges));

  LearnVocabularySummary summary;
  summary.out = options.out;
  summary.merges = merges.size();
  summary.fingerprint = runtime::vocabulary_fingerprint(merges);
  summary.corpus_texts = corpus.size();
  const auto tokenizer = text::ClipTokenizer::from_merges(merges);
  const stages::PromptComposer composer(prompt_template, options.token_budget, tokenizer);
  for (const auto& parts : prompts) {
    const auto prompt = composer.compose(parts);
    ++summary.prompts;
    summary.prompts_over_budget += prompt.dropped.empty() ? 0 : 1;
    const auto lost = std::count_if(prompt.dropped.begin(), prompt.dropped.end(),
                                    [](const std::string& part) { return part.rfind("summary: ", 0) == 0; });
    summary.prompts_without_summary += !parts.summary.empty() && size_t(lost) == parts.summary.size() ? 1 : 0;
    summary.longest_prompt_tokens = std::max<uint64_t>(summary.longest_prompt_tokens, prompt.token_ids.size());
  }
  for (size_t i = 0; i < prompts.size(); ++i) {
    summary.longest_full_prompt_tokens =
        std::max<uint64_t>(summary.longest_full_prompt_tokens, tokenizer.count_tokens(corpus[i]));
    summary.longest_full_prompt_pieces =
        std::max<uint64_t>(summary.longest_full_prompt_pieces, text::ClipTokenizer::pre_tokens(corpus[i]).size() + 2);
  }
  return summary;
}

}  // namespace tessera::pipeline
