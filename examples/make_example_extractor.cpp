// Writes the demo's feature extractor (runtime/example_extractor.h):
//   make_example_extractor OUT.pt [SEED]

#include <cstdio>
#include <exception>
#include <string>

#include "runtime/example_extractor.h"

int main(int argc, char** argv) {
  if (argc < 2 || argc > 3) {
    std::fprintf(stderr, "usage: %s OUT.pt [SEED]\n", argv[0]);
    return 2;
  }
  try {
    tessera::runtime::write_example_extractor(argv[1], argc == 3 ? std::stoull(argv[2]) : 0);
  } catch (const std::exception& e) {
    std::fprintf(stderr, "make_example_extractor: %s\n", e.what());
    return 1;
  }
  return 0;
}
