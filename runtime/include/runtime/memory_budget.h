#pragma once

// Fitting a batch to the memory there is, before the run: a batch whose
// estimated peak does not fit is lowered to the largest that does (the caller
// logs it), and a run that cannot fit even one item is refused with the
// numbers. On the CPU Linux's OOM killer ends a process that runs out without
// a word; on CUDA LibTorch throws an out-of-memory error that fails the batch
// with a message, so the host's memory is the one checked.

#include <cstddef>
#include <cstdint>
#include <functional>
#include <string>

namespace tessera::runtime {

// Overrides the available memory, in bytes: to leave room for other
// processes, and for tests.
inline constexpr const char* kMemoryBudgetVariable = "TESSERA_MEMORY_BUDGET";

struct AvailableMemory {
  uint64_t bytes = 0;
  std::string source;  // where the figure comes from, for messages
};

// kMemoryBudgetVariable when set (tessera::Error naming it unless it is a
// positive integer), else MemAvailable of /proc/meminfo, else sysconf's
// available pages.
AvailableMemory available_host_memory();

struct BatchFit {
  size_t batch = 0;              // the largest batch <= the requested one that fits
  uint64_t requested_bytes = 0;  // the estimated peak of the requested batch
  uint64_t fitted_bytes = 0;     // ... and of `batch`
};

// `peak_bytes(n)`: the estimated peak of a batch of n, non-decreasing in n.
// Throws tessera::Error naming `what`, the estimate for one and the available
// memory with its source when not even a batch of one fits.
BatchFit fit_batch(size_t requested, const std::function<uint64_t(size_t)>& peak_bytes,
                   const AvailableMemory& available, const std::string& what);

// "1.5 GiB", "12.0 MiB", "512 bytes": sizes in messages.
std::string format_bytes(uint64_t bytes);

}  // namespace tessera::runtime
