#pragma once

#include <array>
#include <cstddef>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::stages {

// The bin words of a tile attribute's probability, lowest first.
inline constexpr std::array<std::string_view, 3> kProbabilityBins = {"low", "medium", "high"};

// Three bins, the top one closed: [0, 1/3) low, [1/3, 2/3) medium, [2/3, 1]
// high. p = 1.0 is "high" (PathLDM's binning lost it).
std::string probability_bin(double p);

// The index of `word` in kProbabilityBins; nullopt for any other text.
std::optional<size_t> probability_bin_rank(std::string_view word);

}  // namespace tessera::stages
