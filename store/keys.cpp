#include "store/keys.h"

#include <xxhash.h>

#include <cstdio>

#include "base/error.h"

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

std::string hex64(uint64_t v) {
  char text[17];
  std::snprintf(text, sizeof text, "%016llx", (unsigned long long)v);
  return text;
}

}  // namespace

std::string prompt_id(std::string_view text) {
  const XXH128_hash_t h = XXH3_128bits(text.data(), text.size());
  return hex64(h.high64) + hex64(h.low64);
}

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

std::string encode_model_prefix(std::string_view model_id) {
  const auto nibble = [&](char c) -> int {
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    throw Error("invalid model id '" + std::string(model_id) + "': expected 32 lowercase hex digits");
  };
  if (model_id.size() != 32)
    throw Error("invalid model id '" + std::string(model_id) + "': expected 32 lowercase hex digits");
  std::string out(16, '\0');
  for (size_t i = 0; i < 16; ++i)
    out[i] = static_cast<char>(nibble(model_id[2 * i]) << 4 | nibble(model_id[2 * i + 1]));
  return out;
}

std::string decode_model_prefix(std::string_view prefix) {
  static constexpr char kHex[] = "0123456789abcdef";
  if (prefix.size() < 16) throw Error("malformed model key of " + std::to_string(prefix.size()) + " bytes");
  std::string hex;
  for (size_t i = 0; i < 16; ++i) {
    const auto byte = static_cast<unsigned char>(prefix[i]);
    hex.push_back(kHex[byte >> 4]);
    hex.push_back(kHex[byte & 15]);
  }
  return hex;
}

std::string model_range_end(std::string_view model_prefix) {
  // The smallest key greater than every key starting with the prefix: the
  // prefix incremented as a big-endian number. An all-0xff prefix cannot be
  // incremented; what follows a prefix is a UTF-8 slide id or a hex prompt id,
  // never a 0xff byte, so prefix + 0xff bounds it.
  std::string end(model_prefix);
  for (size_t i = end.size(); i-- > 0;) {
    if (static_cast<unsigned char>(end[i]) != 0xff) {
      end[i] = static_cast<char>(static_cast<unsigned char>(end[i]) + 1);
      end.resize(i + 1);
      return end;
    }
  }
  return std::string(model_prefix) + std::string(1, '\xff');
}

std::string encode_latent_key(std::string_view model_id, std::string_view slide_id, uint32_t row, uint32_t col) {
  return encode_model_prefix(model_id) + encode_tile_key(slide_id, row, col);
}

LatentKey decode_latent_key(std::string_view key) {
  if (key.size() < 16) throw Error("malformed latent key of " + std::to_string(key.size()) + " bytes");
  return LatentKey{decode_model_prefix(key.substr(0, 16)), decode_tile_key(key.substr(16))};
}

std::string encode_embedding_key(std::string_view model_id, std::string_view prompt_id) {
  return encode_model_prefix(model_id) + std::string(prompt_id);
}

}  // namespace tessera::store
