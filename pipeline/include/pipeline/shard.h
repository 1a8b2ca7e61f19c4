#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

namespace tessera::pipeline {

// The most shards a cohort is dealt into.
inline constexpr uint32_t kMaxShards = uint32_t{1} << 20;

// One task's part of a cohort. A slide belongs to shard
// XXH3-64(slide id) mod count, so a slide's shard depends on its id and the
// count alone: adding slides to a cohort never moves one already done, and
// every task of a job array computes the same split without talking to the
// others.
struct Shard {
  uint32_t index = 0;  // 0-based
  uint32_t count = 1;

  [[nodiscard]] bool owns(std::string_view slide_id) const;
  [[nodiscard]] std::string text() const;  // "index/count"
};

// The shard a slide id falls in among `count`. Never fails for count >= 1.
uint32_t shard_of(std::string_view slide_id, uint32_t count);

// A variable of the environment the task runs in; std::nullopt when unset.
using Environment = std::function<std::optional<std::string>(const char* name)>;
Environment process_environment();

// --shard: "I/N" (0 <= I < N), "auto", or "auto/N". `auto` reads the task's
// index, and its count where the scheduler gives one, from:
//   SLURM job arrays: SLURM_ARRAY_TASK_ID with SLURM_ARRAY_TASK_MIN/MAX (and
//     _STEP), or with SLURM_ARRAY_TASK_COUNT for an array numbered from 0;
//   Kubernetes indexed Jobs: JOB_COMPLETION_INDEX, whose count (the Job's
//     completions) is not in the environment and is given as auto/N.
// Throws tessera::Error, naming the variable, for a malformed spec, an index
// out of range, an array that is not an evenly stepped range, or `auto`
// without a scheduler's variables.
Shard parse_shard(std::string_view spec, const Environment& environment);

}  // namespace tessera::pipeline
