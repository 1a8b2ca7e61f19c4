#pragma once

#include <cstdint>
#include <string>
#include <vector>

namespace tessera::store {

// Where a prompt word came from: a report field and its byte range in the
// report, so every prompt is explainable.
struct PromptSourceField {
  std::string name;
  std::string value;
  uint64_t begin = 0;
  uint64_t end = 0;
  bool derived = false;
  bool post_treatment = false;  // a stage after neoadjuvant treatment (ypT, ypN)
};

// How one case's report became this prompt. Two cases can reach the same text;
// each keeps its own provenance.
struct PromptSource {
  std::string case_id;         // "" for slides matched to no case
  std::string summary_source;  // "report", "user-summary" or "none"
  std::string report_origin;   // file:line of the report
  std::vector<PromptSourceField> fields;
  std::vector<std::string> dropped;  // parts the budget removed
};

// One distinct prompt, stored once in the `prompts` column family under its id
// (a hash of its text); tiles refer to it by id. Its sources are stored beside
// it under "id/case", so slides of different cases never overwrite each
// other's provenance.
struct PromptRecord {
  std::string id;
  std::string text;
  std::vector<int32_t> token_ids;  // ids with start and end tokens, in `vocabulary`
  std::string vocabulary;          // its fingerprint (vocabulary_record.h); "" in stores made before it was kept
  std::string tumor;               // bin word or ""
  std::string til;
  std::string template_name;
  uint32_t token_budget = 0;
  std::vector<PromptSource> sources;
};

// The prompt without its sources, and one source, as stored.
std::string encode_prompt_record(const PromptRecord& record);
PromptRecord decode_prompt_record(const std::string& json);
std::string encode_prompt_source(const PromptSource& source);
PromptSource decode_prompt_source(const std::string& json);

// Key of a prompt's source: "id/case".
std::string prompt_source_key(const std::string& prompt_id, const std::string& case_id);

}  // namespace tessera::store
