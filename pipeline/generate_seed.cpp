#include "generate_seed.h"

#include <xxhash.h>

namespace tessera::pipeline {

uint64_t derive_seed(uint64_t seed, const std::string& purpose, uint64_t number) {
  std::string bytes = purpose;
  for (int i = 0; i < 8; ++i) bytes.push_back(char((number >> (8 * i)) & 0xff));
  return XXH3_64bits_withSeed(bytes.data(), bytes.size(), seed);
}

}  // namespace tessera::pipeline
