#include "base/number_text.h"

#include <charconv>

namespace tessera {

std::string shortest_decimal(double value) {
  char text[32];  // the longest shortest form of a double is 24 characters
  const auto result = std::to_chars(text, text + sizeof text, value);
  return std::string(text, result.ptr);
}

}  // namespace tessera
