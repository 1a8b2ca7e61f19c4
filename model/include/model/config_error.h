#pragma once

#include <string>
#include <utility>

#include "base/error.h"

namespace tessera::model {

// Raised for a model config that describes no network this code builds: an
// unreadable or malformed config file, a value of the wrong type, an
// inconsistent field. The message names the file (when the config came from
// one) and the field; file() and field() give them to a caller that reports
// them in its own terms (e.g. as a YAML key path).
class ConfigError : public Error {
 public:
  explicit ConfigError(const std::string& message, std::string file = "", std::string field = "")
      : Error(message), file_(std::move(file)), field_(std::move(field)) {}

  // The config file; "" for a config built in code.
  const std::string& file() const { return file_; }
  // The field or key at fault; "" when the whole file is.
  const std::string& field() const { return field_; }

 private:
  std::string file_;
  std::string field_;
};

}  // namespace tessera::model
