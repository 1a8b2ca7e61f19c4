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

// A model id (32 lowercase hex digits) as the 16 raw bytes that prefix its
// latents and embeddings, so that one model's entries form one range.
// Throws tessera::Error for anything but 32 hex digits.
std::string encode_model_prefix(std::string_view model_id);
std::string decode_model_prefix(std::string_view prefix);  // back to hex
// [begin, end) covering every key of one model.
std::string model_range_end(std::string_view model_prefix);

// A latent key is model prefix + tile key: a model's latents of one slide are
// one range too, in the same order as the slide's tiles.
std::string encode_latent_key(std::string_view model_id, std::string_view slide_id, uint32_t row, uint32_t col);
struct LatentKey {
  std::string model_id;
  TileKey tile;
};
LatentKey decode_latent_key(std::string_view key);

// A prompt's key: the hex XXH3-128 of its text (32 lowercase hex digits).
// Never fails.
std::string prompt_id(std::string_view text);

// An embedding key is model prefix + prompt id.
std::string encode_embedding_key(std::string_view model_id, std::string_view prompt_id);

}  // namespace tessera::store
