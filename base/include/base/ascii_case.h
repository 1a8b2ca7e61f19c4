#pragma once

// ASCII case folding, whatever the locale: file extensions, report words.

#include <string>

namespace tessera {

// `text` with A-Z as a-z; every other byte, UTF-8 included, as it is.
inline std::string ascii_lowercase(std::string text) {
  for (char& c : text) {
    if (c >= 'A' && c <= 'Z') c = char(c - 'A' + 'a');
  }
  return text;
}

}  // namespace tessera
