#include "store/vocabulary_record.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace tessera::store {

std::string describe(const VocabularyRecord& r) {
  const std::string what = r.is_clip ? "CLIP's bpe_simple_vocab_16e6"
                                     : "a vocabulary of " + std::to_string(r.merges) + " merges that is not CLIP's";
  return what + " (fingerprint " + r.fingerprint + ", from " + r.path + ")";
}

std::string encode_vocabulary_record(const VocabularyRecord& r) {
  const nlohmann::json j = {{"fingerprint", r.fingerprint}, {"path", r.path},
                            {"is_clip", r.is_clip},         {"merges", r.merges},
                            {"start_token", r.start_token}, {"end_token", r.end_token}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

VocabularyRecord decode_vocabulary_record(const std::string& json) {
  try {
    const auto j = nlohmann::json::parse(json);
    VocabularyRecord r;
    r.fingerprint = j.at("fingerprint").get<std::string>();
    r.path = j.at("path").get<std::string>();
    r.is_clip = j.at("is_clip").get<bool>();
    r.merges = j.at("merges").get<uint64_t>();
    r.start_token = j.at("start_token").get<int32_t>();
    r.end_token = j.at("end_token").get<int32_t>();
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed vocabulary record: ") + e.what());
  }
}

}  // namespace tessera::store
