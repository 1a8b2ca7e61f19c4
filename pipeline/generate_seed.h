#pragma once

#include <cstdint>
#include <string>

namespace tessera::pipeline {

// A seed for one purpose and one number (an image index, a batch), from the
// run's seed: independent streams whatever the batch size or the order of work.
uint64_t derive_seed(uint64_t seed, const std::string& purpose, uint64_t number);

}  // namespace tessera::pipeline
