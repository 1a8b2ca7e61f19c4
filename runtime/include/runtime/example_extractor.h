#pragma once

// A small feature extractor for the demo and the tests, where no real
// weights are at hand: a TorchScript file with NVlabs' Inception calling
// convention (runtime/feature_extractor.h) whose three convolutions have
// seeded random weights. Its features separate colour and texture well
// enough to rank sets, and mean nothing beyond that: real evaluations use
// Inception or a pathology encoder.

#include <cstdint>
#include <filesystem>

namespace tessera::runtime {

inline constexpr int kExampleExtractorDim = 32;
inline constexpr int kExampleExtractorSide = 64;  // it resizes its input to this, bilinearly

// Writes the extractor, whole or not at all. The same seed writes the same
// weights. Throws tessera::Error naming the file.
void write_example_extractor(const std::filesystem::path& path, uint64_t seed = 0);

}  // namespace tessera::runtime
