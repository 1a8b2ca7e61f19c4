#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "pipeline/learn_vocabulary.h"
#include "run_flags.h"
#include "text/clip_tokenizer.h"

namespace tessera::cli {

void add_learn_vocab_command(CLI::App& app, int& exit_code) {
  auto o = std::make_shared<pipeline::LearnVocabularyOptions>();
  auto json = std::make_shared<bool>(false);
  auto* cmd = app.add_subcommand(
      "learn-vocab",
      "Learn a BPE vocabulary in CLIP's format from a cohort's reports, for prompts when CLIP's file is not at hand. "
      "It is not CLIP's: real CLIP, Stable Diffusion or PathLDM weights need CLIP's own");
  cmd->add_option("--reports", o->reports, "Reports: CSV, JSONL, or a folder of CASE.txt files")->required();
  cmd->add_option("--report-id-column", o->report_columns.id_column, "Case-id column/key")->capture_default_str();
  cmd->add_option("--report-text-column", o->report_columns.text_column, "Text column/key")->capture_default_str();
  cmd->add_option("--summaries", o->summaries, "CSV of user summaries (case id column and 'summary'), as ingest's");
  cmd->add_option("--template", o->prompt_template, "Prompt template, as ingest's")->capture_default_str();
  cmd->add_option("--token-budget", o->token_budget, "The budget the learned vocabulary's prompts are checked against")
      ->capture_default_str()
      ->check(number_within(stages::kMinTokenBudget, stages::kClipContext));
  cmd->add_option("--text", o->texts, "More corpus: UTF-8 files of one text per line (e.g. generate's prompt files)");
  cmd->add_option("--merges", o->learning.max_merges, "The most merges to learn")
      ->capture_default_str()
      ->check(number_within(size_t{0}, text::ClipTokenizer::kClipMerges));
  cmd->add_option("--min-count", o->learning.min_pair_count, "Learn no merge of a pair seen fewer times")
      ->capture_default_str()
      ->check(number_within(uint64_t{1}, std::numeric_limits<uint64_t>::max()));
  cmd->add_option("--out", o->out, "The vocabulary file (.txt.gz), written whole or not at all")->required();
  cmd->add_flag("--json", *json, "Machine-readable summary with stable field names");
  cmd->callback([o, json, &exit_code] {
    const auto s = pipeline::learn_vocabulary(*o);
    if (*json) {
      std::cout << nlohmann::json{{"out", s.out.string()},
                                  {"fingerprint", s.fingerprint},
                                  {"merges", s.merges},
                                  {"corpus_texts", s.corpus_texts},
                                  {"prompts", s.prompts},
                                  {"prompts_over_budget", s.prompts_over_budget},
                                  {"prompts_without_summary", s.prompts_without_summary},
                                  {"longest_prompt_tokens", s.longest_prompt_tokens},
                                  {"longest_full_prompt_tokens", s.longest_full_prompt_tokens},
                                  {"longest_full_prompt_pieces", s.longest_full_prompt_pieces},
                                  {"is_clip", false}}
                       .dump(2)
                << '\n';
    } else {
      std::printf("learn-vocab: %llu merges from %llu texts into %s (fingerprint %s; not CLIP's vocabulary)\n",
                  (unsigned long long)s.merges, (unsigned long long)s.corpus_texts, s.out.string().c_str(),
                  s.fingerprint.c_str());
      std::printf(
          "learn-vocab: the longest prompt in full is %llu tokens (%llu pieces, the fewest any vocabulary "
          "gives)\n",
          (unsigned long long)s.longest_full_prompt_tokens, (unsigned long long)s.longest_full_prompt_pieces);
      std::printf(
          "learn-vocab: within the budget of %zu tokens, %llu of %llu prompts lose a part, %llu their whole "
          "summary\n",
          o->token_budget, (unsigned long long)s.prompts_over_budget, (unsigned long long)s.prompts,
          (unsigned long long)s.prompts_without_summary);
    }
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
