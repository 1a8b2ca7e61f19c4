#include "base/crash_point.h"

#ifdef TESSERA_CRASH_POINTS
#include <atomic>
#include <csignal>
#include <cstdlib>
#include <cstring>
#include <string>
#endif

namespace tessera {

#ifdef TESSERA_CRASH_POINTS
namespace {

struct CrashTarget {
  std::string name;
  unsigned long long after = 0;  // 0: never
};

CrashTarget crash_target_from_environment() {
  CrashTarget target;
  const char* value = std::getenv("TESSERA_CRASH_AT");
  if (!value) return target;
  const char* colon = std::strrchr(value, ':');
  if (!colon) return target;
  target.name.assign(value, colon);
  target.after = std::strtoull(colon + 1, nullptr, 10);
  return target;
}

}  // namespace

void crash_point(const char* name) {
  static const CrashTarget target = crash_target_from_environment();
  static std::atomic<unsigned long long> passes{0};
  if (target.after == 0 || target.name != name) return;
  if (++passes >= target.after) std::raise(SIGKILL);
}
#else
void crash_point(const char*) {}
#endif

}  // namespace tessera
