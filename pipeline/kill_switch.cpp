#include "pipeline/kill_switch.h"

#include <csignal>
#include <cstdlib>

namespace tessera::pipeline {

KillSwitch::KillSwitch(const char* variable) {
  if (const char* value = std::getenv(variable)) after_ = std::strtoull(value, nullptr, 10);
}

void KillSwitch::count() {
  if (after_ && ++seen_ >= after_) std::raise(SIGKILL);
}

}  // namespace tessera::pipeline
