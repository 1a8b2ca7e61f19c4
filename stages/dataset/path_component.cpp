#include "dataset/path_component.h"

#include <xxhash.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>

namespace tessera::stages {
namespace {

constexpr size_t kHashSuffixBytes = 17;  // '~' and 16 hex digits

bool utf8_continuation(char c) { return (uint8_t(c) & 0xC0) == 0x80; }

}  // namespace

std::string path_component(const std::string& text, size_t reserve) {
  std::string out = text;
  for (auto& c : out) {
    if (c == '/' || c == '\\' || uint8_t(c) < 0x20 || c == 0x7f) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  if (out.size() + reserve <= kPathComponentBytes) return out;
  const size_t room =
      kPathComponentBytes > reserve + kHashSuffixBytes ? kPathComponentBytes - reserve - kHashSuffixBytes : 0;
  size_t keep = std::min(room, out.size());
  while (keep > 0 && utf8_continuation(out[keep])) --keep;
  char suffix[kHashSuffixBytes + 1];
  std::snprintf(suffix, sizeof suffix, "~%016llx", (unsigned long long)XXH3_64bits(text.data(), text.size()));
  return out.substr(0, keep) + suffix;
}

}  // namespace tessera::stages
