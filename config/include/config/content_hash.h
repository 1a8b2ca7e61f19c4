#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

namespace tessera::config {

// A streaming XXH3-128 of bytes, the one digest of model fingerprints and
// checkpoint checksums. Integers are hashed little-endian and text with its
// length first, so that a sequence of fields has one encoding.
class ContentHash {
 public:
  ContentHash();
  ~ContentHash();
  ContentHash(const ContentHash&) = delete;
  ContentHash& operator=(const ContentHash&) = delete;

  void bytes(const void* data, size_t size);
  void u64(uint64_t value);
  void text(std::string_view s);
  // 32 lowercase hex digits, in XXH3's canonical (big-endian) byte order.
  std::string hex() const;

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace tessera::config
