#include "slide/resample_method.h"

#include "base/error.h"

namespace tessera::stages {

const char* to_string(ResampleMethod method) {
  switch (method) {
    case ResampleMethod::kLanczos3:
      return "lanczos3";
    case ResampleMethod::kDctScaled:
      return "dct-scaled";
  }
  return "?";
}

ResampleMethod resample_method_from_string(const std::string& name) {
  for (const auto method : {ResampleMethod::kLanczos3, ResampleMethod::kDctScaled}) {
    if (name == to_string(method)) return method;
  }
  throw Error("unknown resampling method '" + name + "' (expected lanczos3 or dct-scaled)");
}

}  // namespace tessera::stages
