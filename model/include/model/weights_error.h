#pragma once

#include <string>
#include <utility>

#include "base/error.h"

namespace tessera::model {

// Raised for unreadable, malformed or inconsistent weight files. The message
// names the file and, where one is at fault, the tensor or key; file() and
// tensor() give them to a caller that reports or decides per file or tensor.
class WeightsError : public Error {
 public:
  explicit WeightsError(const std::string& message, std::string file = "", std::string tensor = "")
      : Error(message), file_(std::move(file)), tensor_(std::move(tensor)) {}

  // The weights file, index, shard or checkpoint; "" for bytes in memory.
  const std::string& file() const { return file_; }
  // The tensor, or the index or metadata key, at fault; "" when the whole file is.
  const std::string& tensor() const { return tensor_; }

 private:
  std::string file_;
  std::string tensor_;
};

}  // namespace tessera::model
