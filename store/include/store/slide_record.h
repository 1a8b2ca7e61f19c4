#pragma once

#include <cstdint>
#include <map>
#include <string>

namespace tessera::store {

enum class SlideStatus { kPending, kComplete, kFailed };

const char* to_string(SlideStatus status);
SlideStatus slide_status_from_string(const std::string& text);

// What the store knows about one slide. Stored as JSON in the `slides` column
// family so that it stays readable with any RocksDB tool.
struct SlideRecord {
  std::string id;
  std::string path;
  std::string quickhash;  // openslide.quickhash-1: detects a replaced file
  std::string vendor;
  int64_t width = 0;  // level 0
  int64_t height = 0;
  int level_count = 0;

  double mpp_x = 0;
  double mpp_y = 0;
  std::string mpp_source;  // "openslide", "tiff-resolution", "override-csv", "objective-power", "assumed"

  int level = 0;                // level the tiles are read from
  double level_downsample = 1;  // that level's downsample from level 0
  int decode_scale = 1;         // the level decoded at 1/decode_scale (JPEG scaled IDCT)
  double resample = 1;          // further downsample applied with libvips (1 = native pixels)
  std::string resampling;       // the method asked for: "lanczos3" or "dct-scaled"
  double tile_mpp = 0;          // µm/px of the stored tile pixels
  int tile_size = 0;
  int overlap = 0;
  int64_t grid_cols = 0;
  int64_t grid_rows = 0;

  std::string tissue_method;
  double tissue_threshold = 0;

  int64_t tiles_total = 0;  // grid cells
  int64_t tiles_kept = 0;
  std::map<std::string, int64_t> rejected;  // rule name -> tiles rejected by that rule first

  std::string case_id;        // "" when the slide matched no case
  std::string report_origin;  // file:line of the matched report, "" without one
  int64_t prompts = 0;        // distinct prompts of the kept tiles

  std::string codec;  // tile pixels, e.g. "jpeg"
  int codec_quality = 0;

  SlideStatus status = SlideStatus::kPending;
  std::string error;
  std::string config_hash;  // ingest configuration that produced the tiles
  double seconds = 0;
  std::string finished_at;  // ISO 8601, UTC
};

std::string encode_slide_record(const SlideRecord& record);
SlideRecord decode_slide_record(const std::string& json);

}  // namespace tessera::store
