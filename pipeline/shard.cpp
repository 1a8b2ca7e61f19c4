#include "pipeline/shard.h"

#include <xxhash.h>

#include <cstdlib>

#include "base/error.h"

namespace tessera::pipeline {
namespace {

constexpr std::string_view kAuto = "auto";

// A non-negative decimal integer, all of `text`.
std::optional<uint64_t> whole_number(std::string_view text) {
  if (text.empty() || text.size() > 12) return std::nullopt;
  uint64_t value = 0;
  for (const char c : text) {
    if (c < '0' || c > '9') return std::nullopt;
    value = value * 10 + uint64_t(c - '0');
  }
  return value;
}

uint64_t variable(const Environment& environment, const char* name) {
  const auto text = environment(name);
  if (!text) throw Error(std::string("--shard auto: ") + name + " is not set");
  const auto value = whole_number(*text);
  if (!value) throw Error(std::string("--shard auto: ") + name + " is '" + *text + "', not a whole number");
  return *value;
}

Shard checked(uint64_t index, uint64_t count, const std::string& what) {
  if (count < 1 || count > kMaxShards) {
    throw Error(what + ": the shard count must be within 1.." + std::to_string(kMaxShards) + ", got " +
                std::to_string(count));
  }
  if (index >= count) {
    throw Error(what + ": shard index " + std::to_string(index) + " is not below the count " + std::to_string(count) +
                " (indices start at 0)");
  }
  return Shard{uint32_t(index), uint32_t(count)};
}

// A SLURM array task: its index within the array's range, and the range's size.
Shard slurm_shard(const Environment& environment, std::optional<uint64_t> given_count) {
  const uint64_t id = variable(environment, "SLURM_ARRAY_TASK_ID");
  std::optional<uint64_t> count;
  uint64_t index = id;
  if (environment("SLURM_ARRAY_TASK_MIN") && environment("SLURM_ARRAY_TASK_MAX")) {
    const uint64_t min = variable(environment, "SLURM_ARRAY_TASK_MIN");
    const uint64_t max = variable(environment, "SLURM_ARRAY_TASK_MAX");
    const uint64_t step = environment("SLURM_ARRAY_TASK_STEP") ? variable(environment, "SLURM_ARRAY_TASK_STEP") : 1;
    if (step == 0 || max < min || id < min || id > max || (id - min) % step != 0) {
      throw Error("--shard auto: SLURM_ARRAY_TASK_ID " + std::to_string(id) + " is not in the array " +
                  std::to_string(min) + "-" + std::to_string(max) + ":" + std::to_string(step));
    }
    index = (id - min) / step;
    count = (max - min) / step + 1;
    if (environment("SLURM_ARRAY_TASK_COUNT") && variable(environment, "SLURM_ARRAY_TASK_COUNT") != *count) {
      throw Error("--shard auto: the SLURM array " + std::to_string(min) + "-" + std::to_string(max) + ":" +
                  std::to_string(step) + " is not an evenly stepped range (SLURM_ARRAY_TASK_COUNT is " +
                  *environment("SLURM_ARRAY_TASK_COUNT") + "); submit it as --array=0-" +
                  std::to_string(variable(environment, "SLURM_ARRAY_TASK_COUNT") - 1));
    }
  } else if (environment("SLURM_ARRAY_TASK_COUNT")) {
    count = variable(environment, "SLURM_ARRAY_TASK_COUNT");
  }
  if (given_count && count && *given_count != *count) {
    throw Error("--shard auto/" + std::to_string(*given_count) + ": the SLURM array has " + std::to_string(*count) +
                " tasks");
  }
  if (!count && !given_count) {
    throw Error(
        "--shard auto: SLURM gives SLURM_ARRAY_TASK_ID but neither SLURM_ARRAY_TASK_MIN/MAX nor "
        "SLURM_ARRAY_TASK_COUNT; give the count as --shard auto/N");
  }
  return checked(index, count ? *count : *given_count, "--shard auto (SLURM array)");
}

}  // namespace

uint32_t shard_of(std::string_view slide_id, uint32_t count) {
  return uint32_t(XXH3_64bits(slide_id.data(), slide_id.size()) % count);
}

bool Shard::owns(std::string_view slide_id) const { return shard_of(slide_id, count) == index; }

std::string Shard::text() const { return std::to_string(index) + "/" + std::to_string(count); }

Environment process_environment() {
  return [](const char* name) -> std::optional<std::string> {
    const char* value = std::getenv(name);
    if (!value) return std::nullopt;
    return std::string(value);
  };
}

Shard parse_shard(std::string_view spec, const Environment& environment) {
  const std::string what = "--shard " + std::string(spec);
  const size_t slash = spec.find('/');
  const std::string_view head = spec.substr(0, slash);
  std::optional<uint64_t> count;
  if (slash != std::string_view::npos) {
    count = whole_number(spec.substr(slash + 1));
    if (!count) throw Error(what + ": expected I/N, auto or auto/N, with whole numbers I and N");
  }
  if (head != kAuto) {
    const auto index = whole_number(head);
    if (!index || !count) throw Error(what + ": expected I/N, auto or auto/N, with whole numbers I and N");
    return checked(*index, *count, what);
  }
  if (environment("SLURM_ARRAY_TASK_ID")) return slurm_shard(environment, count);
  if (environment("JOB_COMPLETION_INDEX")) {
    if (!count) {
      throw Error(
          "--shard auto: a Kubernetes indexed Job gives JOB_COMPLETION_INDEX but not the count; give the "
          "Job's completions as --shard auto/N");
    }
    return checked(variable(environment, "JOB_COMPLETION_INDEX"), *count, what + " (Kubernetes indexed Job)");
  }
  throw Error(what +
              ": none of the schedulers' variables is set: SLURM_ARRAY_TASK_ID (a SLURM job array) or "
              "JOB_COMPLETION_INDEX (a Kubernetes indexed Job); outside a scheduler give --shard I/N");
}

}  // namespace tessera::pipeline
