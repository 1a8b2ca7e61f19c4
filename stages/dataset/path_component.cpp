#include "dataset/path_component.h"

#include <cstdint>

namespace tessera::stages {

std::string path_component(const std::string& text) {
  std::string out = text;
  for (auto& c : out) {
    if (c == '/' || c == '\\' || uint8_t(c) < 0x20 || c == 0x7f) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

}  // namespace tessera::stages
