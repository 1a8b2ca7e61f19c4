#pragma once

#include <gtest/gtest.h>

#include <filesystem>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>
#include <vector>

#include "examples/synthetic_slide.h"
#include "pipeline/ingest_options.h"

namespace tessera::testing {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// ../shared/data beside the checkout (or $TESSERA_SHARED_DATA), if present.
std::optional<std::filesystem::path> shared_data();

#define TESSERA_REQUIRE_SHARED_DATA(var)                                            \
  const auto var##_opt = ::tessera::testing::shared_data();                         \
  if (!var##_opt) GTEST_SKIP() << "../shared/data is not present in this checkout"; \
  const std::filesystem::path var = *var##_opt

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

// The JSON document a command printed with --json: from the first line that
// starts with '{' to the last line that starts with '}' (log lines, which
// share the output, never start with a brace). Fails the test without one.
nlohmann::json json_of(const CommandResult& result);

// A small synthetic slide (see examples/synthetic_slide.h), cached per spec in
// the test's temp dir.
std::filesystem::path make_slide(const std::filesystem::path& dir, const std::string& name,
                                 const examples::SyntheticSlideSpec& spec);

// Ingest options with progress off, for in-process runs.
pipeline::IngestOptions quiet_ingest(const std::filesystem::path& store, std::vector<std::string> slides);

// The spec most tests use: 2048 x 1536 at 0.5 µm/px, 8 x 6 tiles of 256.
examples::SyntheticSlideSpec small_spec();

}  // namespace tessera::testing
