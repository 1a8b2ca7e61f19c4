#pragma once

// What the tests of the commands and jobs add to test_data.h: running the
// binary, reading its JSON, in-process ingest options. Links the pipeline, and
// so LibTorch.

#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/ingest_options.h"
#include "test_data.h"

namespace tessera::testing {

struct CommandResult {
  int exit_code = -1;  // or 128 + signal
  std::string output;  // stdout and stderr together
};

// Runs build/tessera with `args` (no shell), with extra environment variables;
// when they set TESSERA_CRASH_AT (base/crash_point.h), runs its test build,
// whose crash points are armed.
// When `on_output` is given it sees the output as it arrives, with the child's
// pid, so a test can signal the child at a chosen moment.
CommandResult run_tessera(const std::vector<std::string>& args, const std::vector<std::string>& env = {},
                          const std::function<void(const std::string& output, int pid)>& on_output = {});

// Runs build/tessera itself whatever `env` holds, so a test can show that the
// release binary ignores TESSERA_CRASH_AT.
CommandResult run_release_tessera(const std::vector<std::string>& args, const std::vector<std::string>& env);

// The JSON document a command printed with --json: from the first line that
// starts with '{' to the last line that starts with '}' (log lines, which
// share the output, never start with a brace). Fails the test without one.
nlohmann::json json_of(const CommandResult& result);

// Ingest options with progress off, for in-process runs.
pipeline::IngestOptions quiet_ingest(const std::filesystem::path& store, std::vector<std::string> slides);

}  // namespace tessera::testing
