#pragma once

#include <cstdint>

namespace tessera::pipeline {

// Fault injection for the resume tests: SIGKILLs this process, as `kill -9`
// would, when count() is called for the N-th time, N read from the
// environment variable (unset or 0: never). Call count() right after a unit of
// work (a tile, a batch) has been handed to storage.
class KillSwitch {
 public:
  explicit KillSwitch(const char* variable);
  void count();

 private:
  uint64_t after_ = 0;
  uint64_t seen_ = 0;
};

}  // namespace tessera::pipeline
