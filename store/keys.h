#pragma once

#include <cstdint>
#include <string>
#include <string_view>

namespace tessera::store {

// A tile key is slide_id '\0' be32(row) be32(col): a slide's tiles form one
// contiguous, row-major range, so DeleteRange and prefix scans cover exactly one
// slide.
struct TileKey {
  std::string slide_id;
  uint32_t row = 0;
  uint32_t col = 0;
};

std::string encode_tile_key(std::string_view slide_id, uint32_t row, uint32_t col);
TileKey decode_tile_key(std::string_view key);

// [begin, end) covering every tile key of one slide.
std::string slide_range_begin(std::string_view slide_id);
std::string slide_range_end(std::string_view slide_id);

// Slide ids become key prefixes; they must be non-empty and free of NUL bytes.
void check_slide_id(std::string_view slide_id);

}  // namespace tessera::store
