#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>
#include <utility>

#include "base/error.h"
#include "commands.h"
#include "prompts/clip_vocabulary.h"
#include "prompts/prompt_composer.h"
#include "prompts/prompt_options.h"
#include "prompts/report_fields.h"
#include "prompts/report_source.h"
#include "prompts/user_summaries.h"
#include "run_flags.h"
#include "store/keys.h"
#include "text/clip_tokenizer.h"

namespace tessera::cli {

void add_report_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string reports;
    stages::ReportSourceOptions columns;
    std::string summaries;
    std::string case_id;
    std::string template_name = stages::kDefaultTemplate;
    size_t token_budget = stages::kDefaultTokenBudget;
    std::string clip_vocab;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd =
      app.add_subcommand("report", "Show what tessera extracts from reports: fields with spans, summary, prompt");
  cmd->add_option("--reports", flags->reports, "Reports: CSV, JSONL, or a folder of CASE.txt files")->required();
  cmd->add_option("--report-id-column", flags->columns.id_column, "Case-id column/key")->capture_default_str();
  cmd->add_option("--report-text-column", flags->columns.text_column, "Text column/key")->capture_default_str();
  cmd->add_option("--summaries", flags->summaries,
                  "CSV of user summaries (case id column and 'summary') replacing composed ones, as ingest does");
  cmd->add_option("--case", flags->case_id, "Only this case");
  cmd->add_option("--template", flags->template_name, "Prompt template")->capture_default_str();
  cmd->add_option("--token-budget", flags->token_budget, "Maximum CLIP tokens per prompt")
      ->capture_default_str()
      ->check(number_within(stages::kMinTokenBudget, stages::kClipContext));
  add_clip_vocab_flag(cmd, flags->clip_vocab, "prompts");
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
    const auto user_summaries = flags->summaries.empty()
                                    ? std::map<std::string, std::string>()
                                    : stages::read_user_summaries(flags->summaries, flags->columns.id_column);
    auto tokenizer = text::ClipTokenizer::from_bpe_gz(stages::clip_vocabulary_path(flags->clip_vocab, "prompts"));
    const stages::PromptComposer composer(stages::PromptTemplate::load(flags->template_name), flags->token_budget,
                                          std::move(tokenizer));

    nlohmann::json out = nlohmann::json::array();
    for (const auto& report : reports) {
      const auto fields = stages::extract_report_fields(report.text);
      const auto user_summary = user_summaries.find(report.case_id);
      const auto summary =
          stages::choose_summary(&fields, user_summary == user_summaries.end() ? nullptr : &user_summary->second);
      // Ingest's prompt for a tile without attributes.
      const auto prompt = composer.compose({"", "", summary.clauses});
      if (flags->json) {
        nlohmann::json j = {{"case_id", report.case_id},
                            {"origin", report.origin},
                            {"summary", summary.clauses},
                            {"summary_source", summary.source},
                            {"prompt", prompt.text},
                            {"prompt_id", prompt.text.empty() ? "" : store::prompt_id(prompt.text)},
                            {"tokens", prompt.token_ids.size()},
                            {"token_ids", prompt.token_ids},
                            {"dropped", prompt.dropped}};
        j["fields"] = nlohmann::json::array();
        for (const auto& f : fields) {
          j["fields"].push_back({{"name", f.name},
                                 {"value", f.value},
                                 {"begin", f.begin},
                                 {"end", f.end},
                                 {"derived", f.derived},
                                 {"post_treatment", f.post_treatment},
                                 {"span", report.text.substr(f.begin, f.end - f.begin)}});
        }
        out.push_back(j);
        continue;
      }
      std::printf("%s (%s)\n", report.case_id.c_str(), report.origin.c_str());
      for (const auto& f : fields) {
        std::printf("  %-16s %-28s %s[%zu,%zu) \"%s\"\n", f.name.c_str(), f.value.c_str(),
                    f.derived          ? "derived "
                    : f.post_treatment ? "post-treatment "
                                       : "",
                    f.begin, f.end, report.text.substr(f.begin, std::min<size_t>(f.end - f.begin, 60)).c_str());
      }
      std::printf("  prompt (%zu tokens of %zu): %s\n", prompt.token_ids.size(), flags->token_budget,
                  prompt.text.c_str());
      for (const auto& d : prompt.dropped) std::printf("  dropped for the budget: %s\n", d.c_str());
    }
    if (flags->json) std::cout << out.dump(2) << '\n';
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
