#pragma once

#include <stdexcept>
#include <string>

namespace tessera {

// Every error a user can cause (bad input, a busy store, a wrong schema) is an
// Error whose message names the file, key or field involved. Graph nodes catch
// it per slide, so one bad slide never cancels a run.
class Error : public std::runtime_error {
 public:
  using std::runtime_error::runtime_error;
};

}  // namespace tessera
