#pragma once

namespace tessera {

// The most threads a flag may ask for (--jobs, --threads): far above the
// cores of any machine tessera runs on; it catches a mistyped number before
// it becomes that many threads.
inline constexpr int kMaxThreads = 1024;

}  // namespace tessera
