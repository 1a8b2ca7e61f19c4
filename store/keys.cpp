#include "store/keys.h"

#include "store/error.h"

namespace tessera::store {
namespace {

void put_be32(std::string& out, uint32_t v) {
  out.push_back(static_cast<char>(v >> 24));
  out.push_back(static_cast<char>(v >> 16));
  out.push_back(static_cast<char>(v >> 8));
  out.push_back(static_cast<char>(v));
}

uint32_t get_be32(std::string_view in) {
  const auto* p = reinterpret_cast<const unsigned char*>(in.data());
  return (uint32_t{p[0]} << 24) | (uint32_t{p[1]} << 16) | (uint32_t{p[2]} << 8) | uint32_t{p[3]};
}

}  // namespace

void check_slide_id(std::string_view slide_id) {
  if (slide_id.empty() || slide_id.find('\0') != std::string_view::npos) {
    throw Error("invalid slide id '" + std::string(slide_id) + "': it must be non-empty and contain no NUL byte");
  }
}

std::string encode_tile_key(std::string_view slide_id, uint32_t row, uint32_t col) {
  std::string key;
  key.reserve(slide_id.size() + 9);
  key.append(slide_id);
  key.push_back('\0');
  put_be32(key, row);
  put_be32(key, col);
  return key;
}

TileKey decode_tile_key(std::string_view key) {
  const size_t nul = key.find('\0');
  if (nul == std::string_view::npos || key.size() != nul + 9) {
    throw Error("malformed tile key of " + std::to_string(key.size()) + " bytes");
  }
  return TileKey{std::string(key.substr(0, nul)), get_be32(key.substr(nul + 1)), get_be32(key.substr(nul + 5))};
}

std::string slide_range_begin(std::string_view slide_id) {
  std::string key(slide_id);
  key.push_back('\0');
  return key;
}

std::string slide_range_end(std::string_view slide_id) {
  std::string key(slide_id);
  key.push_back('\1');
  return key;
}

}  // namespace tessera::store
