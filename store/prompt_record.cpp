#include "store/prompt_record.h"

#include <nlohmann/json.hpp>

#include "store/error.h"

namespace tessera::store {

std::string encode_prompt_record(const PromptRecord& r) {
  nlohmann::json fields = nlohmann::json::array();
  for (const auto& f : r.fields) {
    fields.push_back({{"name", f.name}, {"value", f.value}, {"begin", f.begin}, {"end", f.end}, {"derived", f.derived}});
  }
  return nlohmann::json{{"id", r.id},
                        {"text", r.text},
                        {"token_ids", r.token_ids},
                        {"tokens", r.token_ids.size()},
                        {"case_id", r.case_id},
                        {"summary_source", r.summary_source},
                        {"report_origin", r.report_origin},
                        {"fields", fields},
                        {"tumor", r.tumor},
                        {"til", r.til},
                        {"template", r.template_name},
                        {"token_budget", r.token_budget},
                        {"dropped", r.dropped}}
      .dump();
}

PromptRecord decode_prompt_record(const std::string& json) {
  PromptRecord r;
  try {
    const auto j = nlohmann::json::parse(json);
    r.id = j.at("id").get<std::string>();
    r.text = j.at("text").get<std::string>();
    r.token_ids = j.at("token_ids").get<std::vector<int32_t>>();
    r.case_id = j.at("case_id").get<std::string>();
    r.summary_source = j.at("summary_source").get<std::string>();
    r.report_origin = j.at("report_origin").get<std::string>();
    for (const auto& f : j.at("fields")) {
      r.fields.push_back({f.at("name").get<std::string>(), f.at("value").get<std::string>(),
                          f.at("begin").get<uint64_t>(), f.at("end").get<uint64_t>(), f.at("derived").get<bool>()});
    }
    r.tumor = j.at("tumor").get<std::string>();
    r.til = j.at("til").get<std::string>();
    r.template_name = j.at("template").get<std::string>();
    r.token_budget = j.at("token_budget").get<uint32_t>();
    r.dropped = j.at("dropped").get<std::vector<std::string>>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt prompt record: ") + e.what());
  }
  return r;
}

}  // namespace tessera::store
