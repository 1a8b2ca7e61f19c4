#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "pipeline/prompt_context.h"
#include "prompts/prompt_template.h"
#include "prompts/report_fields.h"
#include "prompts/report_source.h"
#include "text/clip_tokenizer.h"

namespace tessera::cli {

void add_report_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string reports;
    stages::ReportSourceOptions columns;
    std::string case_id;
    std::string template_name = "pathldm";
    size_t token_budget = 35;
    std::string clip_vocab;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd =
      app.add_subcommand("report", "Show what tessera extracts from reports: fields with spans, summary, prompt");
  cmd->add_option("--reports", flags->reports, "Reports: CSV, JSONL, or a folder of CASE.txt files")->required();
  cmd->add_option("--report-id-column", flags->columns.id_column, "Case-id column/key")->capture_default_str();
  cmd->add_option("--report-text-column", flags->columns.text_column, "Text column/key")->capture_default_str();
  cmd->add_option("--case", flags->case_id, "Only this case");
  cmd->add_option("--template", flags->template_name, "Prompt template")->capture_default_str();
  cmd->add_option("--token-budget", flags->token_budget, "Maximum CLIP tokens per prompt")
      ->capture_default_str()
      ->check(CLI::Range(3, 77));
  cmd->add_option("--clip-vocab", flags->clip_vocab, "CLIP BPE vocabulary; default $TESSERA_CLIP_VOCAB");
  cmd->add_flag("--json", flags->json, "Machine-readable output with stable field names");
  cmd->callback([flags, &exit_code] {
    auto reports = stages::read_reports(flags->reports, flags->columns);
    if (!flags->case_id.empty()) {
      std::vector<stages::Report> one;
      for (auto& r : reports) {
        if (r.case_id == flags->case_id) one.push_back(std::move(r));
      }
      if (one.empty()) throw Error(flags->reports + ": no report for case '" + flags->case_id + "'");
      reports = std::move(one);
    }
    std::string vocab = flags->clip_vocab;
    if (vocab.empty()) {
      if (const char* env = std::getenv("TESSERA_CLIP_VOCAB")) vocab = env;
    }
    if (vocab.empty()) throw Error("pass --clip-vocab bpe_simple_vocab_16e6.txt.gz or set TESSERA_CLIP_VOCAB");
    const auto tokenizer = text::ClipTokenizer::from_bpe_gz(vocab);
    const auto prompt_template = stages::PromptTemplate::load(flags->template_name);
    const auto count = [&](std::string_view t) { return tokenizer.count_tokens(t); };

    nlohmann::json out = nlohmann::json::array();
    for (const auto& report : reports) {
      const auto fields = stages::extract_report_fields(report.text);
      const auto summary = stages::compose_summary(fields);
      const auto prompt = stages::budget_prompt(prompt_template, {"", "", summary}, flags->token_budget, count);
      if (flags->json) {
        nlohmann::json j = {{"case_id", report.case_id},
                            {"origin", report.origin},
                            {"summary", summary},
                            {"prompt", prompt.text},
                            {"prompt_id", prompt.text.empty() ? "" : pipeline::prompt_id(prompt.text)},
                            {"tokens", prompt.tokens},
                            {"token_ids", tokenizer.tokenize(prompt.text, stages::kClipContext, false)},
                            {"dropped", prompt.dropped}};
        j["fields"] = nlohmann::json::array();
        for (const auto& f : fields) {
          j["fields"].push_back({{"name", f.name},
                                 {"value", f.value},
                                 {"begin", f.begin},
                                 {"end", f.end},
                                 {"derived", f.derived},
                                 {"span", report.text.substr(f.begin, f.end - f.begin)}});
        }
        out.push_back(j);
        continue;
      }
      std::printf("%s (%s)\n", report.case_id.c_str(), report.origin.c_str());
      for (const auto& f : fields) {
        std::printf("  %-16s %-28s %s[%zu,%zu) \"%s\"\n", f.name.c_str(), f.value.c_str(), f.derived ? "derived " : "",
                    f.begin, f.end, report.text.substr(f.begin, std::min<size_t>(f.end - f.begin, 60)).c_str());
      }
      std::printf("  prompt (%zu tokens of %zu): %s\n", prompt.tokens, flags->token_budget, prompt.text.c_str());
      for (const auto& d : prompt.dropped) std::printf("  dropped for the budget: %s\n", d.c_str());
    }
    if (flags->json) std::cout << out.dump(2) << '\n';
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
