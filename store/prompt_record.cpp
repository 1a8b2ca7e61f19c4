#include "store/prompt_record.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace tessera::store {
namespace {

std::string dump(const nlohmann::json& j) { return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace); }

}  // namespace

std::string prompt_source_key(const std::string& prompt_id, const std::string& case_id) {
  return prompt_id + "/" + case_id;
}

std::string encode_prompt_record(const PromptRecord& r) {
  return dump({{"id", r.id},
               {"text", r.text},
               {"token_ids", r.token_ids},
               {"tokens", r.token_ids.size()},
               {"vocabulary", r.vocabulary},
               {"tumor", r.tumor},
               {"til", r.til},
               {"template", r.template_name},
               {"token_budget", r.token_budget}});
}

PromptRecord decode_prompt_record(const std::string& json) {
  PromptRecord r;
  try {
    const auto j = nlohmann::json::parse(json);
    r.id = j.at("id").get<std::string>();
    r.text = j.at("text").get<std::string>();
    r.token_ids = j.at("token_ids").get<std::vector<int32_t>>();
    r.vocabulary = j.value("vocabulary", "");
    r.tumor = j.at("tumor").get<std::string>();
    r.til = j.at("til").get<std::string>();
    r.template_name = j.at("template").get<std::string>();
    r.token_budget = j.at("token_budget").get<uint32_t>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt prompt record: ") + e.what());
  }
  return r;
}

std::string encode_prompt_source(const PromptSource& s) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& f : s.fields) {
    fields.push_back({{"name", f.name},
                      {"value", f.value},
                      {"begin", f.begin},
                      {"end", f.end},
                      {"derived", f.derived},
                      {"post_treatment", f.post_treatment}});
  }
  return dump({{"case_id", s.case_id},
               {"summary_source", s.summary_source},
               {"report_origin", s.report_origin},
               {"fields", fields},
               {"dropped", s.dropped}});
}

PromptSource decode_prompt_source(const std::string& json) {
  PromptSource s;
  try {
    const auto j = nlohmann::json::parse(json);
    s.case_id = j.at("case_id").get<std::string>();
    s.summary_source = j.at("summary_source").get<std::string>();
    s.report_origin = j.at("report_origin").get<std::string>();
    for (const auto& f : j.at("fields")) {
      // Sources stored before post_treatment was kept read as false.
      s.fields.push_back({f.at("name").get<std::string>(), f.at("value").get<std::string>(),
                          f.at("begin").get<uint64_t>(), f.at("end").get<uint64_t>(), f.at("derived").get<bool>(),
                          f.value("post_treatment", false)});
    }
    s.dropped = j.at("dropped").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt prompt source: ") + e.what());
  }
  return s;
}

}  // namespace tessera::store
