#include "config/content_hash.h"

#include <xxhash.h>

#include "base/error.h"

namespace tessera::config {

struct ContentHash::State {
  XXH3_state_t* xxh = nullptr;
  ~State() { XXH3_freeState(xxh); }
};

ContentHash::ContentHash() : state_(std::make_unique<State>()) {
  state_->xxh = XXH3_createState();
  if (state_->xxh == nullptr || XXH3_128bits_reset(state_->xxh) != XXH_OK) throw Error("cannot start XXH3");
}

ContentHash::~ContentHash() = default;

void ContentHash::bytes(const void* data, size_t size) {
  if (size != 0 && XXH3_128bits_update(state_->xxh, data, size) != XXH_OK) throw Error("XXH3 failed");
}

void ContentHash::u64(uint64_t value) {
  uint8_t le[8];
  for (int i = 0; i < 8; ++i) le[i] = static_cast<uint8_t>(value >> (8 * i));
  bytes(le, sizeof le);
}

void ContentHash::text(std::string_view s) {
  u64(s.size());
  bytes(s.data(), s.size());
}

std::string ContentHash::hex() const {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state_->xxh));
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string out;
  for (const unsigned char byte : canonical.digest) {
    out += kDigits[byte >> 4];
    out += kDigits[byte & 15];
  }
  return out;
}

}  // namespace tessera::config
