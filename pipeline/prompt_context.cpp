#include "pipeline/prompt_context.h"

#include <xxhash.h>

#include <cstdio>
#include <sstream>

#include "base/file_io.h"
#include "prompts/clip_vocabulary.h"
#include "prompts/probability_bin.h"
#include "prompts/report_fields.h"
#include "prompts/user_summaries.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"

namespace tessera::pipeline {
namespace {

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
  return text;
}

// The bins a tile can take for one attribute: missing, or one of the three.
std::vector<std::string> bin_choices() {
  std::vector<std::string> choices = {""};
  choices.insert(choices.end(), stages::kProbabilityBins.begin(), stages::kProbabilityBins.end());
  return choices;
}

}  // namespace

const store::PromptRecord* SlidePrompts::for_tile(const stages::TileProbabilities& p) const {
  const std::string tumor = p.tumor ? stages::probability_bin(*p.tumor) : "";
  const std::string til = p.til ? stages::probability_bin(*p.til) : "";
  const auto it = by_bins.find({tumor, til});
  return it == by_bins.end() || it->second.text.empty() ? nullptr : &it->second;
}

PromptContext::~PromptContext() = default;

std::unique_ptr<PromptContext> PromptContext::load(const IngestOptions& options) {
  if (options.reports.empty() && options.tile_attributes.empty() && options.summaries.empty()) return nullptr;
  std::unique_ptr<PromptContext> context(new PromptContext());
  auto vocabulary = runtime::load_vocabulary(stages::clip_vocabulary_path(options.clip_vocab, "prompts"));
  context->vocabulary_ = std::move(vocabulary.record);
  // The file's bytes, not the fingerprint, as stores made before fingerprints
  // were kept hashed them: their slides stay current.
  const std::string file = tessera::read_file(context->vocabulary_.path);
  context->vocabulary_file_hash_ = hex64(XXH3_64bits(file.data(), file.size()));

  if (!options.reports.empty()) {
    context->reports_ = stages::index_reports(stages::read_reports(options.reports, options.report_columns));
  }
  if (!options.summaries.empty()) {
    context->summaries_ = stages::read_user_summaries(options.summaries, options.report_columns.id_column);
  }
  context->matcher_.emplace(options.case_match);
  if (!options.tile_attributes.empty()) {
    context->attributes_ = stages::read_tile_attributes(options.tile_attributes, options.attribute_options);
  }
  auto prompt_template = stages::PromptTemplate::load(options.prompt_template);
  stages::check_token_budget(options.token_budget, "--token-budget");
  context->composer_.emplace(std::move(prompt_template), options.token_budget, std::move(vocabulary.tokenizer));
  return context;
}

store::PromptRecord PromptContext::make_prompt(const std::string& case_id, const stages::Report* report,
                                               const std::vector<stages::ReportField>& fields,
                                               const stages::CaseSummary& summary, const std::string& tumor,
                                               const std::string& til) const {
  auto prompt = composer_->compose({tumor, til, summary.clauses});
  store::PromptRecord record;
  record.id = prompt.text.empty() ? "" : store::prompt_id(prompt.text);
  record.text = std::move(prompt.text);
  record.token_ids = std::move(prompt.token_ids);
  record.vocabulary = vocabulary_.fingerprint;
  record.tumor = tumor;
  record.til = til;
  record.template_name = composer_->prompt_template().name();
  record.token_budget = uint32_t(composer_->token_budget());
  store::PromptSource provenance;
  provenance.case_id = case_id;
  provenance.summary_source = summary.source;
  provenance.report_origin = report ? report->origin : "";
  for (const auto& f : fields)
    provenance.fields.push_back({f.name, f.value, f.begin, f.end, f.derived, f.post_treatment});
  provenance.dropped = std::move(prompt.dropped);
  record.sources.push_back(std::move(provenance));
  return record;
}

SlidePrompts PromptContext::for_slide(const std::string& slide_id) const {
  SlidePrompts prompts;
  const stages::Report* report = nullptr;
  std::vector<stages::ReportField> fields;
  stages::CaseSummary summary;
  if (const auto case_id = matcher_->case_id(slide_id)) {
    prompts.case_id = *case_id;
    if (const auto it = reports_.find(*case_id); it != reports_.end()) {
      report = &it->second;
      prompts.report_origin = report->origin;
      fields = stages::extract_report_fields(report->text);
    }
    const auto user_summary = summaries_.find(*case_id);
    summary = stages::choose_summary(report ? &fields : nullptr,
                                     user_summary == summaries_.end() ? nullptr : &user_summary->second);
  }
  if (const auto it = attributes_.find(slide_id); it != attributes_.end()) prompts.attributes = &it->second;

  std::ostringstream inputs;
  // The report's text and place too: its spans and origin are stored.
  inputs << vocabulary_file_hash_ << '|' << composer_->prompt_template().text() << '|' << composer_->token_budget()
         << '|' << summary.source << '|' << prompts.case_id << '|'
         << (report ? report->origin + '|' + report->text : std::string());
  for (const auto& clause : summary.clauses) inputs << '|' << clause;
  if (prompts.attributes) {
    inputs << "|mpp=" << prompts.attributes->mpp;
    for (const auto& p : prompts.attributes->patches) {
      inputs << '|' << p.x << ',' << p.y << ',' << p.w << ',' << p.h << ',' << p.tumor.value_or(-1) << ','
             << p.til.value_or(-1);
    }
  }
  const std::string text = inputs.str();
  prompts.inputs_hash = hex64(XXH3_64bits(text.data(), text.size()));

  for (const auto& tumor : bin_choices()) {
    for (const auto& til : bin_choices()) {
      if (!prompts.attributes && (!tumor.empty() || !til.empty())) continue;
      prompts.by_bins.emplace(std::pair{tumor, til}, make_prompt(prompts.case_id, report, fields, summary, tumor, til));
    }
  }
  return prompts;
}

}  // namespace tessera::pipeline
