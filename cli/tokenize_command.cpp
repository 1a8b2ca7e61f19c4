#include <CLI/CLI.hpp>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.h"
#include "prompts/clip_vocabulary.h"
#include "prompts/prompt_options.h"
#include "run_flags.h"
#include "text/clip_tokenizer.h"

namespace tessera::cli {
namespace {

struct TokenizeFlags {
  std::vector<std::string> texts;
  std::string vocab;
  std::string hf_vocab;
  std::string hf_merges;
  size_t context = text::ClipTokenizer::kContextLength;
  bool json = false;
};

text::ClipTokenizer load_tokenizer(const TokenizeFlags& flags) {
  if (!flags.hf_vocab.empty()) return text::ClipTokenizer::from_hugging_face(flags.hf_vocab, flags.hf_merges);
  return text::ClipTokenizer::from_bpe_gz(stages::clip_vocabulary_path(
      flags.vocab, "tokenize", ", or pass a Hugging Face pair with --hf-vocab vocab.json --hf-merges merges.txt"));
}

}  // namespace

void add_tokenize_command(CLI::App& app, int& exit_code) {
  auto flags = std::make_shared<TokenizeFlags>();
  auto* cmd = app.add_subcommand("tokenize", "Turn texts into CLIP token ids, exactly as OpenAI CLIP's tokenizer does");
  cmd->add_option("text", flags->texts, "Texts to tokenize, one result line each")->required();
  auto* vocab = add_clip_vocab_flag(cmd, flags->vocab, "tokenize");
  auto* hf_vocab = cmd->add_option("--hf-vocab", flags->hf_vocab, "Hugging Face vocab.json (with --hf-merges)");
  auto* hf_merges = cmd->add_option("--hf-merges", flags->hf_merges, "Hugging Face merges.txt (with --hf-vocab)");
  hf_vocab->needs(hf_merges);
  hf_merges->needs(hf_vocab);
  vocab->excludes(hf_vocab);
  vocab->excludes(hf_merges);
  // Any length from the shortest prompt (start, one token, end) up: a long one
  // only truncates nothing.
  cmd->add_option("--context", flags->context,
                  "Context length: longer texts keep their first ids and end with <|endoftext|>")
      ->capture_default_str()
      ->check(number_within(stages::kMinTokenBudget, std::numeric_limits<size_t>::max()));
  cmd->add_flag("--json", flags->json, "A JSON array of {text, ids, tokens}");
  cmd->callback([flags, &exit_code] {
    const auto tokenizer = load_tokenizer(*flags);
    nlohmann::ordered_json out = nlohmann::ordered_json::array();
    for (const auto& text : flags->texts) {
      const auto ids = tokenizer.tokenize(text, flags->context, true);
      if (flags->json) {
        out.push_back({{"text", text}, {"ids", ids}, {"tokens", tokenizer.token_strings(ids)}});
        continue;
      }
      for (size_t i = 0; i < ids.size(); ++i) std::cout << (i ? " " : "") << ids[i];
      std::cout << '\n';
    }
    // A text that is not UTF-8 is shown with U+FFFD where its bad bytes were.
    if (flags->json) std::cout << out.dump(2, ' ', false, nlohmann::ordered_json::error_handler_t::replace) << '\n';
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
