#include "store/model_record.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace tessera::store {

std::string encode_model_record(const ModelRecord& r) {
  const nlohmann::json j = {{"id", r.id},
                            {"role", r.role},
                            {"architecture", r.architecture},
                            {"config_path", r.config_path},
                            {"weights_path", r.weights_path},
                            {"output_shape", r.output_shape},
                            {"scale_factor", r.scale_factor},
                            {"stored_dtype", r.stored_dtype},
                            {"tile_size", r.tile_size},
                            {"vocabulary", r.vocabulary},
                            {"registered_at", r.registered_at}};
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

ModelRecord decode_model_record(const std::string& json) {
  try {
    const auto j = nlohmann::json::parse(json);
    ModelRecord r;
    r.id = j.at("id").get<std::string>();
    r.role = j.at("role").get<std::string>();
    r.architecture = j.at("architecture").get<std::string>();
    r.config_path = j.value("config_path", "");
    r.weights_path = j.value("weights_path", "");
    r.output_shape = j.at("output_shape").get<std::vector<uint32_t>>();
    r.scale_factor = j.value("scale_factor", 1.0f);
    r.stored_dtype = j.value("stored_dtype", "fp16");
    r.tile_size = j.value("tile_size", int64_t{0});
    r.vocabulary = j.value("vocabulary", "");
    r.registered_at = j.value("registered_at", "");
    return r;
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("malformed model record: ") + e.what());
  }
}

}  // namespace tessera::store
