#pragma once

// What the tests of the commands and jobs add to test_data.h: running the
// binary, reading its JSON, in-process ingest options. Links the pipeline, and
// so LibTorch.

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "pipeline/ingest_options.h"
#include "test_data.h"

namespace tessera::testing {

// The tiny model configs (schemas/ldm/) the command tests run.
inline const std::filesystem::path kLdmConfigs = std::filesystem::path(TESSERA_SOURCE_DIR) / "schemas" / "ldm";
// The slide of the model tests' stores: a TCGA barcode, so that reports match it.
inline constexpr const char* kTestSlideId = "TCGA-AA-0001-01Z-00-DX1";

struct CommandResult {
  int exit_code = -1;  // or 128 + signal
  std::string output;  // stdout and stderr together
};

// Runs `binary` with `args` (no shell), with extra environment variables;
// `on_output` as for run_tessera.
CommandResult run_binary(std::string binary, const std::vector<std::string>& args,
                         const std::vector<std::string>& env = {},
                         const std::function<void(const std::string& output, int pid)>& on_output = {});

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

// A store in `dir`/store holding one small slide (kTestSlideId, small_spec())
// as 64 px tiles at 2 µm/px, ingested by the binary. Throws std::runtime_error
// with the command's output when the ingest fails.
std::filesystem::path ingest_test_slide(const std::filesystem::path& dir);

// A vocabulary in CLIP's format learned at test time (text/bpe_learning.h)
// from `corpus`, written to `path`: the prompt path runs without CLIP's file.
// The default corpus holds the words of the tests' prompts and reports.
std::filesystem::path write_learned_vocabulary(const std::filesystem::path& path,
                                               const std::vector<std::string>& corpus = {});

// Ingest options with progress off, for in-process runs.
pipeline::IngestOptions quiet_ingest(const std::filesystem::path& store, std::vector<std::string> slides);

}  // namespace tessera::testing
