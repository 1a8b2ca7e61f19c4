#pragma once

#include <chrono>
#include <string>

namespace tessera::pipeline {

// Wall time since construction, for run summaries.
class RunClock {
 public:
  double seconds() const { return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count(); }

 private:
  std::chrono::steady_clock::time_point start_ = std::chrono::steady_clock::now();
};

// The current time in ISO 8601, UTC, as stored records write it.
std::string utc_now();

}  // namespace tessera::pipeline
