#pragma once

#include <stdexcept>

namespace tessera::model {

// Raised for unreadable, malformed or inconsistent weight files. model/ has its
// own error type because it must not depend on store/ (it builds with LibTorch
// alone on machines without the rest of tessera's dependencies).
class WeightsError : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tessera::model
