#include "runtime/memory_budget.h"

#include <unistd.h>

#include <charconv>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string_view>

#include "base/error.h"

namespace tessera::runtime {
namespace {

constexpr const char* kMeminfo = "/proc/meminfo";

// MemAvailable in bytes, or 0 when the kernel does not report it.
uint64_t meminfo_available() {
  std::ifstream in(kMeminfo);
  for (std::string line; std::getline(in, line);) {
    std::istringstream fields(line);
    std::string key, unit;
    uint64_t value = 0;
    if (fields >> key >> value >> unit && key == "MemAvailable:" && unit == "kB") return value * 1024;
  }
  return 0;
}

}  // namespace

AvailableMemory available_host_memory() {
  if (const char* text = std::getenv(kMemoryBudgetVariable)) {
    const std::string_view value(text);
    uint64_t bytes = 0;
    const auto [end, error] = std::from_chars(value.data(), value.data() + value.size(), bytes);
    if (value.empty() || error != std::errc() || end != value.data() + value.size() || bytes == 0) {
      throw Error(std::string(kMemoryBudgetVariable) + "='" + text + "': must be a positive number of bytes");
    }
    return {bytes, kMemoryBudgetVariable};
  }
  if (const uint64_t bytes = meminfo_available()) return {bytes, std::string("MemAvailable in ") + kMeminfo};
  const long pages = sysconf(_SC_AVPHYS_PAGES), page_size = sysconf(_SC_PAGESIZE);
  return {uint64_t(pages > 0 ? pages : 0) * uint64_t(page_size > 0 ? page_size : 0), "sysconf's available pages"};
}

BatchFit fit_batch(size_t requested, const std::function<uint64_t(size_t)>& peak_bytes,
                   const AvailableMemory& available, const std::string& what) {
  BatchFit fit;
  fit.requested_bytes = peak_bytes(requested);
  if (fit.requested_bytes <= available.bytes) {
    fit.batch = requested;
    fit.fitted_bytes = fit.requested_bytes;
    return fit;
  }
  // The largest batch that fits, by bisection over [1, requested).
  size_t low = 0, high = requested;  // low fits (0: none found yet), high does not
  while (high - low > 1) {
    const size_t middle = low + (high - low) / 2;
    (peak_bytes(middle) <= available.bytes ? low : high) = middle;
  }
  if (low == 0) {
    throw Error(what + ": a batch of one needs about " + format_bytes(peak_bytes(1)) + " of memory at its peak, but " +
                format_bytes(available.bytes) + " is available (" + available.source + ")");
  }
  fit.batch = low;
  fit.fitted_bytes = peak_bytes(low);
  return fit;
}

std::string format_bytes(uint64_t bytes) {
  constexpr const char* kUnits[] = {"KiB", "MiB", "GiB", "TiB"};
  if (bytes < 1024) return std::to_string(bytes) + " bytes";
  double value = double(bytes) / 1024;
  size_t unit = 0;
  while (value >= 1024 && unit + 1 < std::size(kUnits)) value /= 1024, ++unit;
  char text[32];
  std::snprintf(text, sizeof text, "%.1f %s", value, kUnits[unit]);
  return text;
}

}  // namespace tessera::runtime
