#pragma once

#include <string>

namespace tessera {

// The shortest decimal text that reads back as exactly `value`
// (std::to_chars): what loss.csv rows, run settings and fingerprints record.
std::string shortest_decimal(double value);

}  // namespace tessera
