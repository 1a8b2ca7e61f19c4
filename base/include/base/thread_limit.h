#pragma once

#include <algorithm>
#include <thread>

namespace tessera {

// The most threads a flag may ask for (--jobs, --threads): far above the
// cores of any machine tessera runs on; it catches a mistyped number before
// it becomes that many threads.
inline constexpr int kMaxThreads = 1024;

// What --jobs 0 and --threads 0 mean: one thread per core.
inline int threads_or_cores(int requested) {
  return requested > 0 ? requested : int(std::max(1u, std::thread::hardware_concurrency()));
}

}  // namespace tessera
