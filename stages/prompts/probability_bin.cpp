#include "prompts/probability_bin.h"

#include <algorithm>

namespace tessera::stages {

std::string probability_bin(double p) {
  const size_t bin = p < 1.0 / 3.0 ? 0 : p < 2.0 / 3.0 ? 1 : 2;
  return std::string(kProbabilityBins[bin]);
}

std::optional<size_t> probability_bin_rank(std::string_view word) {
  const auto it = std::find(kProbabilityBins.begin(), kProbabilityBins.end(), word);
  if (it == kProbabilityBins.end()) return std::nullopt;
  return size_t(it - kProbabilityBins.begin());
}

}  // namespace tessera::stages
