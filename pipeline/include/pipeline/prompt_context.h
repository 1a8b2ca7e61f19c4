#pragma once

#include <map>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "pipeline/ingest_options.h"
#include "prompts/case_matching.h"
#include "prompts/prompt_composer.h"
#include "prompts/report_source.h"
#include "prompts/tile_attributes.h"
#include "store/prompt_record.h"
#include "store/vocabulary_record.h"

namespace tessera::pipeline {

// A slide's prompts: one per (tumor bin, til bin) pair its tiles can have.
struct SlidePrompts {
  std::string case_id;
  std::string report_origin;
  const stages::SlideAttributes* attributes = nullptr;  // null when the table has no rows for the slide
  std::map<std::pair<std::string, std::string>, store::PromptRecord> by_bins;
  std::string inputs_hash;  // of everything above, for the slide's ingest-config hash

  // The prompt of a tile with these averaged probabilities, or null when the
  // slide has no prompt at all.
  const store::PromptRecord* for_tile(const stages::TileProbabilities& p) const;
};

// Everything prompts are made from, loaded and checked once before a run, so a
// malformed report or attribute file stops the run before anything is written.
class PromptContext {
 public:
  // Null when the options ask for no prompts.
  static std::unique_ptr<PromptContext> load(const IngestOptions& options);
  ~PromptContext();

  SlidePrompts for_slide(const std::string& slide_id) const;

  size_t reports() const { return reports_.size(); }
  const store::VocabularyRecord& vocabulary() const { return vocabulary_; }

 private:
  PromptContext() = default;
  store::PromptRecord make_prompt(const std::string& case_id, const stages::Report* report,
                                  const std::vector<stages::ReportField>& fields, const stages::CaseSummary& summary,
                                  const std::string& tumor, const std::string& til) const;

  std::map<std::string, stages::Report> reports_;
  std::map<std::string, std::string> summaries_;
  std::optional<stages::CaseMatcher> matcher_;
  std::map<std::string, stages::SlideAttributes> attributes_;
  std::optional<stages::PromptComposer> composer_;
  store::VocabularyRecord vocabulary_;
  std::string vocabulary_file_hash_;
};

}  // namespace tessera::pipeline
