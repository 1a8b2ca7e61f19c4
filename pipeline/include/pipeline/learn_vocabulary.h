#pragma once

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

#include "prompts/prompt_options.h"
#include "prompts/report_source.h"
#include "text/bpe_learning.h"

namespace tessera::pipeline {

// A vocabulary in CLIP's format learned from a cohort's own prompts, for
// when CLIP's file is not at hand (a demo, a test, a machine without the
// download). It is not CLIP's: real CLIP, Stable Diffusion or PathLDM
// weights need CLIP's vocabulary, and tessera records which one every
// prompt, text model and run used.
struct LearnVocabularyOptions {
  std::string reports;  // as ingest's --reports
  stages::ReportSourceOptions report_columns;
  std::string summaries;  // as ingest's --summaries; "" for none
  std::string prompt_template = stages::kDefaultTemplate;
  size_t token_budget = stages::kDefaultTokenBudget;
  std::vector<std::string> texts;  // more corpus: UTF-8 files, one text per line
  text::BpeLearning learning;
  std::filesystem::path out;  // written whole or not at all
};

struct LearnVocabularySummary {
  std::filesystem::path out;
  std::string fingerprint;
  uint64_t merges = 0;
  uint64_t corpus_texts = 0;
  // The prompts ingest makes of the reports (every case, every pair of bins),
  // tokenised with the vocabulary learned.
  uint64_t prompts = 0;
  uint64_t prompts_over_budget = 0;      // that lose a part to --token-budget
  uint64_t prompts_without_summary = 0;  // that lose every summary clause to it
  uint64_t longest_prompt_tokens = 0;    // within the budget
  // The longest prompt in full, in tokens, and in the pieces CLIP's pattern
  // splits it into (start and end included): no vocabulary makes fewer
  // tokens than pieces, since digits and punctuation are pieces of their own.
  uint64_t longest_full_prompt_tokens = 0;
  uint64_t longest_full_prompt_pieces = 0;
};

// The corpus is every prompt ingest can make of the reports, in full (each
// case's summary under every pair of tumour and TIL bins), then the reports'
// text and the lines of `texts`. Throws tessera::Error naming the file or line
// of a malformed input before anything is written.
LearnVocabularySummary learn_vocabulary(const LearnVocabularyOptions& options);

}  // namespace tessera::pipeline
