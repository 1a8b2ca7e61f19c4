#pragma once

// The check every number flag takes: its value must be a number of the flag's
// type, finite, within the flag's range. CLI::Range, PositiveNumber and
// NonNegativeNumber only compare, and every comparison with NaN is false, so
// they let "nan" through; an unsigned flag's own conversion turns "-3" into
// 2^64 - 3. A value that fails is a CLI::ValidationError naming the flag
// (exit 2, a usage error) before any command runs. tests/flag_checks_test.cpp
// holds every number flag of every command to this.

#include <CLI/CLI.hpp>
#include <charconv>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <string>
#include <type_traits>

#include "base/number_text.h"

namespace tessera::cli {

// Which ends a flag's range includes.
enum class RangeEnds {
  kClosed,     // [lowest, highest]
  kOpenBelow,  // (lowest, highest]
  kOpenAbove,  // [lowest, highest)
};

namespace detail {

template <typename Number>
std::string number_text(Number value) {
  if constexpr (std::is_floating_point_v<Number>) {
    return shortest_decimal(double(value));
  } else {
    return std::to_string(value);
  }
}

// "[0, 1]", "(0, 200]", "[0, 0.5)": the range as the messages state it.
template <typename Number>
std::string range_text(Number lowest, Number highest, RangeEnds ends) {
  return (ends == RangeEnds::kOpenBelow ? "(" : "[") + number_text(lowest) + ", " + number_text(highest) +
         (ends == RangeEnds::kOpenAbove ? ")" : "]");
}

}  // namespace detail

// Values within the range from `lowest` to `highest`, its ends as `ends` says.
// An integer flag takes plain decimal digits only (no "1e3", "0x10" or
// "010"); a floating-point one any finite number strtold reads.
template <typename Number>
CLI::Validator number_within(Number lowest, Number highest, RangeEnds ends = RangeEnds::kClosed) {
  static_assert(std::is_arithmetic_v<Number> && !std::is_same_v<Number, bool>);
  const std::string range = detail::range_text(lowest, highest, ends);
  const std::string kind = std::is_integral_v<Number> ? "a whole number" : "a finite number";
  return CLI::Validator(
      [=](const std::string& text) -> std::string {
        Number value{};
        bool parsed = false;
        if constexpr (std::is_integral_v<Number>) {
          const char* end = text.data() + text.size();
          const auto [stop, error] = std::from_chars(text.data(), end, value);
          // Only the plain decimal form: CLI11 reads integers with base 0,
          // where "010" is 8.
          parsed = error == std::errc() && stop == end && std::to_string(value) == text;
        } else {
          char* stop = nullptr;
          const long double read = std::strtold(text.c_str(), &stop);
          parsed =
              !text.empty() && stop == text.c_str() + text.size() && std::isfinite(read) && std::isfinite(double(read));
          value = Number(read);
        }
        const bool above = ends == RangeEnds::kOpenBelow ? value > lowest : value >= lowest;
        const bool below = ends == RangeEnds::kOpenAbove ? value < highest : value <= highest;
        if (parsed && above && below) return {};
        return "must be " + kind + " within " + range + ", got '" + text + "'";
      },
      kind + " in " + range);
}

// Values above 0 up to `highest`.
template <typename Number>
CLI::Validator positive_up_to(Number highest) {
  return number_within(Number{0}, highest, RangeEnds::kOpenBelow);
}

// A fraction: [0, 1].
inline CLI::Validator fraction() { return number_within(0.0, 1.0); }

// A seed: any 64-bit unsigned whole number.
inline CLI::Validator any_seed() { return number_within<uint64_t>(0, std::numeric_limits<uint64_t>::max()); }

}  // namespace tessera::cli
