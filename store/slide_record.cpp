#include "store/slide_record.h"

#include <nlohmann/json.hpp>

#include "base/error.h"

namespace tessera::store {

const char* to_string(SlideStatus status) {
  switch (status) {
    case SlideStatus::kPending:
      return "pending";
    case SlideStatus::kComplete:
      return "complete";
    case SlideStatus::kFailed:
      return "failed";
  }
  return "unknown";
}

SlideStatus slide_status_from_string(const std::string& text) {
  if (text == "pending") return SlideStatus::kPending;
  if (text == "complete") return SlideStatus::kComplete;
  if (text == "failed") return SlideStatus::kFailed;
  throw Error("unknown slide status '" + text + "'");
}

std::string encode_slide_record(const SlideRecord& r) {
  nlohmann::json j = {
      {"id", r.id},
      {"path", r.path},
      {"quickhash", r.quickhash},
      {"vendor", r.vendor},
      {"width", r.width},
      {"height", r.height},
      {"level_count", r.level_count},
      {"mpp_x", r.mpp_x},
      {"mpp_y", r.mpp_y},
      {"mpp_source", r.mpp_source},
      {"level", r.level},
      {"level_downsample", r.level_downsample},
      {"decode_scale", r.decode_scale},
      {"resample", r.resample},
      {"resampling", r.resampling},
      {"tile_mpp", r.tile_mpp},
      {"tile_size", r.tile_size},
      {"overlap", r.overlap},
      {"grid_cols", r.grid_cols},
      {"grid_rows", r.grid_rows},
      {"tissue_method", r.tissue_method},
      {"tissue_threshold", r.tissue_threshold},
      {"tiles_total", r.tiles_total},
      {"tiles_kept", r.tiles_kept},
      {"rejected", r.rejected},
      {"case_id", r.case_id},
      {"report_origin", r.report_origin},
      {"prompts", r.prompts},
      {"codec", r.codec},
      {"codec_quality", r.codec_quality},
      {"status", to_string(r.status)},
      {"error", r.error},
      {"config_hash", r.config_hash},
      {"seconds", r.seconds},
      {"finished_at", r.finished_at},
  };
  // Paths from foreign file systems need not be UTF-8; a record must still be
  // writable, so invalid bytes become U+FFFD rather than an exception.
  return j.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

SlideRecord decode_slide_record(const std::string& json) {
  SlideRecord r;
  try {
    const auto j = nlohmann::json::parse(json);
    r.id = j.at("id").get<std::string>();
    r.path = j.at("path").get<std::string>();
    r.quickhash = j.at("quickhash").get<std::string>();
    r.vendor = j.at("vendor").get<std::string>();
    r.width = j.at("width").get<int64_t>();
    r.height = j.at("height").get<int64_t>();
    r.level_count = j.at("level_count").get<int>();
    r.mpp_x = j.at("mpp_x").get<double>();
    r.mpp_y = j.at("mpp_y").get<double>();
    r.mpp_source = j.at("mpp_source").get<std::string>();
    r.level = j.at("level").get<int>();
    r.level_downsample = j.at("level_downsample").get<double>();
    r.resample = j.at("resample").get<double>();
    // Records from before DCT-scaled decoding were all made with Lanczos3.
    r.decode_scale = j.value("decode_scale", 1);
    r.resampling = j.value("resampling", "lanczos3");
    r.tile_mpp = j.at("tile_mpp").get<double>();
    r.tile_size = j.at("tile_size").get<int>();
    r.overlap = j.at("overlap").get<int>();
    r.grid_cols = j.at("grid_cols").get<int64_t>();
    r.grid_rows = j.at("grid_rows").get<int64_t>();
    r.tissue_method = j.at("tissue_method").get<std::string>();
    r.tissue_threshold = j.at("tissue_threshold").get<double>();
    r.tiles_total = j.at("tiles_total").get<int64_t>();
    r.tiles_kept = j.at("tiles_kept").get<int64_t>();
    r.rejected = j.at("rejected").get<std::map<std::string, int64_t>>();
    r.case_id = j.value("case_id", "");
    r.report_origin = j.value("report_origin", "");
    r.prompts = j.value("prompts", int64_t{0});
    r.codec = j.at("codec").get<std::string>();
    r.codec_quality = j.at("codec_quality").get<int>();
    r.status = slide_status_from_string(j.at("status").get<std::string>());
    r.error = j.at("error").get<std::string>();
    r.config_hash = j.at("config_hash").get<std::string>();
    r.seconds = j.at("seconds").get<double>();
    r.finished_at = j.at("finished_at").get<std::string>();
  } catch (const nlohmann::json::exception& e) {
    throw Error(std::string("corrupt slide record: ") + e.what());
  }
  return r;
}

}  // namespace tessera::store
