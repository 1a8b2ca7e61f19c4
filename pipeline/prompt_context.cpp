#include "pipeline/prompt_context.h"

#include <xxhash.h>

#include <cstdio>
#include <cstdlib>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"
#include "prompts/csv_table.h"
#include "prompts/report_fields.h"
#include "text/clip_tokenizer.h"

namespace tessera::pipeline {
namespace {

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
  return text;
}

// The bins a tile can take for one attribute: missing, or one of the three.
const std::vector<std::string>& bin_choices() {
  static const std::vector<std::string> choices = {"", "low", "medium", "high"};
  return choices;
}

}  // namespace

std::string prompt_id(const std::string& text) {
  const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return hex64(h.high64) + hex64(h.low64);
}

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
  context->vocabulary_path_ = options.clip_vocab;
  if (context->vocabulary_path_.empty()) {
    if (const char* env = std::getenv("TESSERA_CLIP_VOCAB")) context->vocabulary_path_ = env;
  }
  if (context->vocabulary_path_.empty()) {
    throw Error(
        "prompts need the CLIP BPE vocabulary: pass --clip-vocab bpe_simple_vocab_16e6.txt.gz (from OpenAI "
        "CLIP's repository, MIT licence) or set TESSERA_CLIP_VOCAB");
  }
  context->tokenizer_ =
      std::make_unique<text::ClipTokenizer>(text::ClipTokenizer::from_bpe_gz(context->vocabulary_path_));
  const std::string vocabulary = tessera::read_file(context->vocabulary_path_);
  context->vocabulary_hash_ = hex64(XXH3_64bits(vocabulary.data(), vocabulary.size()));

  if (!options.reports.empty()) {
    context->reports_ = stages::index_reports(stages::read_reports(options.reports, options.report_columns));
  }
  if (!options.summaries.empty()) {
    const auto table = stages::read_csv(options.summaries);
    const size_t id = table.column(options.report_columns.id_column), summary = table.column("summary");
    for (size_t r = 0; r < table.rows.size(); ++r) {
      const auto [it, inserted] = context->summaries_.emplace(table.rows[r][id], table.rows[r][summary]);
      if (!inserted) throw Error(table.where(r) + ": case '" + it->first + "' has two summaries");
    }
  }
  context->matcher_.emplace(options.case_match);
  if (!options.tile_attributes.empty()) {
    context->attributes_ = stages::read_tile_attributes(options.tile_attributes, options.attribute_options);
  }
  context->template_ = stages::PromptTemplate::load(options.prompt_template);
  if (options.token_budget < 3 || options.token_budget > stages::kClipContext) {
    throw Error("--token-budget must be in 3..77 (CLIP's context, start and end tokens included)");
  }
  context->token_budget_ = options.token_budget;
  return context;
}

store::PromptRecord PromptContext::make_prompt(const std::string& case_id, const stages::Report* report,
                                               const std::vector<stages::ReportField>& fields,
                                               const std::vector<std::string>& summary, const std::string& source,
                                               const std::string& tumor, const std::string& til) const {
  const auto count = [this](std::string_view text) { return tokenizer_->count_tokens(text); };
  const auto budgeted = stages::budget_prompt(*template_, {tumor, til, summary}, token_budget_, count);
  store::PromptRecord record;
  record.text = budgeted.text;
  record.id = budgeted.text.empty() ? "" : prompt_id(budgeted.text);
  record.token_ids = tokenizer_->tokenize(budgeted.text, stages::kClipContext, /*truncate=*/false);
  record.tumor = tumor;
  record.til = til;
  record.template_name = template_->name();
  record.token_budget = uint32_t(token_budget_);
  store::PromptSource provenance;
  provenance.case_id = case_id;
  provenance.summary_source = source;
  provenance.report_origin = report ? report->origin : "";
  for (const auto& f : fields) provenance.fields.push_back({f.name, f.value, f.begin, f.end, f.derived});
  provenance.dropped = budgeted.dropped;
  record.sources.push_back(std::move(provenance));
  return record;
}

SlidePrompts PromptContext::for_slide(const std::string& slide_id) const {
  SlidePrompts prompts;
  const stages::Report* report = nullptr;
  std::vector<stages::ReportField> fields;
  std::vector<std::string> summary;
  std::string source = "none";
  if (const auto case_id = matcher_->case_id(slide_id)) {
    prompts.case_id = *case_id;
    if (const auto it = reports_.find(*case_id); it != reports_.end()) {
      report = &it->second;
      prompts.report_origin = report->origin;
      fields = stages::extract_report_fields(report->text);
      summary = stages::compose_summary(fields);
      source = "report";
    }
    if (const auto it = summaries_.find(*case_id); it != summaries_.end()) {
      summary = stages::split_summary(it->second);
      source = "user-summary";
    }
  }
  if (const auto it = attributes_.find(slide_id); it != attributes_.end()) prompts.attributes = &it->second;

  std::ostringstream inputs;
  // The report's text and place too: its spans and origin are stored.
  inputs << vocabulary_hash_ << '|' << template_->text() << '|' << token_budget_ << '|' << source << '|'
         << prompts.case_id << '|' << (report ? report->origin + '|' + report->text : std::string());
  for (const auto& clause : summary) inputs << '|' << clause;
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
      prompts.by_bins.emplace(std::pair{tumor, til},
                              make_prompt(prompts.case_id, report, fields, summary, source, tumor, til));
    }
  }
  return prompts;
}

}  // namespace tessera::pipeline
