#pragma once

#include <cstdint>
#include <limits>
#include <string>
#include <string_view>

namespace tessera::store {

// Per-tile metadata, kept small and apart from the pixels so that scans over a
// cohort's tiles never read the pixel blobs.
struct TileRecord {
  int64_t x = 0;  // level-0 top-left corner
  int64_t y = 0;
  int64_t extent = 0;  // level-0 pixels covered by the tile's side
  uint32_t size = 0;   // stored pixels per side
  float mpp = 0;       // µm/px of the stored pixels
  float tissue_fraction = 0;
  float white_fraction = 0;
  float pen_fraction = 0;
  float blur_score = 0;  // variance of the Laplacian of the grey image
  // The tile's prompt (key in the `prompts` column family), or "" for none.
  std::string prompt_id;
  // Tile attributes averaged over the tile; NaN when the slide has none.
  float tumor_probability = std::numeric_limits<float>::quiet_NaN();
  float til_probability = std::numeric_limits<float>::quiet_NaN();
};

// Fixed little-endian layout behind a format byte, so fields can be added by
// bumping the format without rewriting stores. Format 1 (no prompt) is still
// read; format 2 adds the prompt id and the tile attributes.
std::string encode_tile_record(const TileRecord& record);
TileRecord decode_tile_record(std::string_view bytes);

}  // namespace tessera::store
