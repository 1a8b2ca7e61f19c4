#include "store/tile_record.h"

#include <algorithm>
#include <cstring>
#include <type_traits>

#include "base/error.h"

namespace tessera::store {
namespace {

constexpr uint8_t kFormatWithoutPrompt = 1;
constexpr uint8_t kTileRecordFormat = 2;
constexpr size_t kFormat1Bytes = 1 + 3 * 8 + 4 + 5 * 4;
constexpr size_t kPromptIdBytes = 32;  // hex
constexpr size_t kTileRecordBytes = kFormat1Bytes + 2 * 4 + 1 + kPromptIdBytes;

static_assert(sizeof(float) == 4, "IEEE-754 binary32 expected");

template <typename T>
void put(std::string& out, T value) {
  static_assert(std::is_trivially_copyable_v<T>);
  char bytes[sizeof(T)];
  std::memcpy(bytes, &value, sizeof(T));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::reverse(bytes, bytes + sizeof(T));
#endif
  out.append(bytes, sizeof(T));
}

template <typename T>
T get(std::string_view& in) {
  T value;
  char bytes[sizeof(T)];
  std::memcpy(bytes, in.data(), sizeof(T));
#if __BYTE_ORDER__ == __ORDER_BIG_ENDIAN__
  std::reverse(bytes, bytes + sizeof(T));
#endif
  std::memcpy(&value, bytes, sizeof(T));
  in.remove_prefix(sizeof(T));
  return value;
}

}  // namespace

std::string encode_tile_record(const TileRecord& r) {
  std::string out;
  out.reserve(kTileRecordBytes);
  out.push_back(static_cast<char>(kTileRecordFormat));
  put(out, r.x);
  put(out, r.y);
  put(out, r.extent);
  put(out, r.size);
  put(out, r.mpp);
  put(out, r.tissue_fraction);
  put(out, r.white_fraction);
  put(out, r.pen_fraction);
  put(out, r.blur_score);
  put(out, r.tumor_probability);
  put(out, r.til_probability);
  if (!r.prompt_id.empty() && r.prompt_id.size() != kPromptIdBytes) {
    throw Error("prompt id '" + r.prompt_id + "' is not " + std::to_string(kPromptIdBytes) + " characters");
  }
  out.push_back(r.prompt_id.empty() ? '\0' : '\1');
  out.append(r.prompt_id.empty() ? std::string(kPromptIdBytes, '\0') : r.prompt_id);
  return out;
}

TileRecord decode_tile_record(std::string_view in) {
  const uint8_t format = in.empty() ? 0 : static_cast<uint8_t>(in[0]);
  const size_t expected = format == kFormatWithoutPrompt ? kFormat1Bytes : kTileRecordBytes;
  if ((format != kFormatWithoutPrompt && format != kTileRecordFormat) || in.size() != expected) {
    throw Error("corrupt tile record: " + std::to_string(in.size()) + " bytes of format " + std::to_string(format) +
                " (expected " + std::to_string(kFormat1Bytes) + " bytes of format 1 or " +
                std::to_string(kTileRecordBytes) + " of format 2)");
  }
  in.remove_prefix(1);
  TileRecord r;
  r.x = get<int64_t>(in);
  r.y = get<int64_t>(in);
  r.extent = get<int64_t>(in);
  r.size = get<uint32_t>(in);
  r.mpp = get<float>(in);
  r.tissue_fraction = get<float>(in);
  r.white_fraction = get<float>(in);
  r.pen_fraction = get<float>(in);
  r.blur_score = get<float>(in);
  if (format == kFormatWithoutPrompt) return r;
  r.tumor_probability = get<float>(in);
  r.til_probability = get<float>(in);
  if (in[0] == '\1') r.prompt_id = std::string(in.substr(1, kPromptIdBytes));
  return r;
}

}  // namespace tessera::store
