#pragma once

#include <map>
#include <string>
#include <vector>

namespace tessera::bench {

struct ProcessStats {
  int exit_code = -1;
  double seconds = 0;
  double peak_rss_mib = 0;
};

// Runs a program (no shell) with stdout/stderr sent to `log`, and measures its
// wall time and peak resident set size (wait4's ru_maxrss). Dirty pages are
// written back first (sync), so that the writes of the run before do not
// compete with this one's.
ProcessStats run_measured(const std::vector<std::string>& argv, const std::string& log);

double peak_rss_mib_of_self();

// Reads `--name value` pairs into the integers `flags` names; any other
// argument prints `usage` and exits with status 2.
void parse_int_flags(int argc, char** argv, const std::map<std::string, int*>& flags, const char* usage);

}  // namespace tessera::bench
