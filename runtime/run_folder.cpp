#include "runtime/run_folder.h"

#include <spdlog/spdlog.h>

#include <charconv>
#include <cinttypes>
#include <cstdio>
#include <sstream>
#include <stdexcept>
#include <system_error>
#include <utility>

#include "base/error.h"
#include "base/file_io.h"
#include "model/safetensors.h"
#include "runtime/checkpoint_checksum.h"

namespace tessera::runtime {
namespace fs = std::filesystem;
namespace {

constexpr const char* kWeightsSuffix = ".safetensors";
constexpr const char* kVaeStateSuffix = ".train.safetensors";

const char* format_of(RunKind kind) { return kind == RunKind::kLdm ? "tessera-run/1" : "tessera-train-vae/1"; }

const char* state_suffix(RunKind kind) { return kind == RunKind::kLdm ? kWeightsSuffix : kVaeStateSuffix; }

std::string step_name(int64_t step, const char* suffix) {
  char name[32];
  std::snprintf(name, sizeof name, "step-%08" PRId64, step);
  return name + std::string(suffix);
}

// The step of "step-<digits><suffix>", whatever the count of digits.
std::optional<int64_t> step_of(const std::string& name, const std::string& suffix) {
  const std::string prefix = "step-";
  if (name.size() <= prefix.size() + suffix.size() || name.compare(0, prefix.size(), prefix) != 0 ||
      name.compare(name.size() - suffix.size(), suffix.size(), suffix) != 0) {
    return std::nullopt;
  }
  const char* first = name.data() + prefix.size();
  const char* last = name.data() + name.size() - suffix.size();
  if (*first < '0' || *first > '9') return std::nullopt;  // from_chars would take a sign
  int64_t step = 0;
  const auto [end, error] = std::from_chars(first, last, step);
  if (error != std::errc() || end != last) return std::nullopt;
  return step;
}

// The file named step-<digits><suffix> of the highest step for which
// `usable` holds.
template <typename Usable>
std::optional<std::pair<int64_t, fs::path>> highest_step(const fs::path& dir, const std::string& suffix,
                                                         Usable usable) {
  std::optional<std::pair<int64_t, fs::path>> highest;
  if (!fs::is_directory(dir)) return highest;
  std::error_code error;
  for (fs::directory_iterator it(dir, error), end; !error && it != end; it.increment(error)) {
    const auto step = step_of(it->path().filename().string(), suffix);
    if (step && (!highest || *step > highest->first) && usable(*step)) highest.emplace(*step, it->path());
  }
  if (error) throw Error(dir.string() + ": cannot list: " + error.message());
  return highest;
}

}  // namespace

RunManifest::RunManifest(fs::path file, nlohmann::json fields) : file_(std::move(file)), fields_(std::move(fields)) {}

const nlohmann::json* RunManifest::find(const std::string& key) const {
  const nlohmann::json* node = &fields_;
  std::stringstream parts(key);
  for (std::string part; std::getline(parts, part, '.');) {
    if (!node->is_object() || !node->contains(part)) return nullptr;
    node = &(*node)[part];
  }
  return node;
}

const nlohmann::json& RunManifest::field(const std::string& key) const {
  const nlohmann::json* value = find(key);
  if (!value) throw Error(file_.string() + ": field \"" + key + "\" is missing");
  return *value;
}

bool RunManifest::has(const std::string& key) const { return find(key) != nullptr; }

std::optional<store::VocabularyRecord> RunManifest::vocabulary() const {
  const nlohmann::json* value = find("vocabulary");
  if (!value || value->is_null()) return std::nullopt;
  try {
    return store::decode_vocabulary_record(value->dump());
  } catch (const Error& e) {
    throw Error(file_.string() + ": field \"vocabulary\": " + e.what());
  }
}

nlohmann::json vocabulary_field(const std::optional<store::VocabularyRecord>& vocabulary) {
  return vocabulary ? nlohmann::json::parse(store::encode_vocabulary_record(*vocabulary)) : nlohmann::json(nullptr);
}

std::string RunManifest::string(const std::string& key) const {
  const nlohmann::json& value = field(key);
  if (!value.is_string() || value.get<std::string>().empty()) {
    throw Error(file_.string() + ": field \"" + key + "\" must be a non-empty string");
  }
  return value.get<std::string>();
}

fs::path RunManifest::path(const std::string& key) const {
  const fs::path value = string(key);
  return value.is_absolute() ? value : file_.parent_path() / value;
}

uint64_t RunManifest::unsigned_integer(const std::string& key) const {
  const nlohmann::json& value = field(key);
  if (!value.is_number_unsigned()) {
    throw Error(file_.string() + ": field \"" + key + "\" must be a non-negative integer");
  }
  return value.get<uint64_t>();
}

RunFolder::RunFolder(fs::path root, RunKind kind) : root_(std::move(root)), kind_(kind) {}

fs::path RunFolder::weights(int64_t step) const { return checkpoints() / step_name(step, kWeightsSuffix); }

fs::path RunFolder::training_state(int64_t step) const { return checkpoints() / step_name(step, state_suffix(kind_)); }

fs::path RunFolder::sample_grid(int64_t step) const { return root_ / "samples" / step_name(step, ".png"); }

FolderLock RunFolder::lock() const { return FolderLock(root_); }

void RunFolder::check_usable(bool resume) const {
  if (fs::exists(root_) && !fs::is_directory(root_)) throw Error("--out " + root_.string() + " is not a directory");
  if (!resume && !FolderLock::holds_only_lock(root_)) {
    throw Error("--out " + root_.string() +
                " is not empty: pass --resume to continue its run, or choose another folder");
  }
}

std::optional<int64_t> RunFolder::newest_resumable_step() const {
  const auto newest = highest_step(checkpoints(), state_suffix(kind_), [this](int64_t step) {
    return fs::exists(weights(step)) && fs::exists(training_state(step));
  });
  if (!newest) return std::nullopt;
  return newest->first;
}

fs::path RunFolder::newest_weights() const {
  const auto newest = highest_step(checkpoints(), kWeightsSuffix, [](int64_t) { return true; });
  if (!newest) throw Error(checkpoints().string() + " holds no step-NNNNNNNN.safetensors checkpoint");
  return newest->second;
}

void RunFolder::check_resume_settings(int64_t step, const RunSettings& current) const {
  const fs::path state = training_state(step);
  for (const fs::path& file : {weights(step), state}) {
    if (!verify_checksum(file)) {
      spdlog::warn(
          "--resume: {} has no checksum ({} is absent: written before tessera kept checksums, or the run "
          "stopped before writing it); resuming without verifying it",
          file.string(), checksum_path(file).filename().string());
    }
    if (kind_ == RunKind::kLdm) break;  // the weights are the state
  }
  const auto recorded = model::SafetensorsFile::open(state.string()).metadata();
  for (const auto& [key, now] : current) {
    const auto found = recorded.find(key);
    const std::string then = found == recorded.end() ? "(absent)" : found->second;
    if (then != now) {
      throw Error("--resume: " + state.string() + " was trained with " + key + " " + then + ", this run has " + now +
                  "; resuming exactly needs the same settings (start a new --out to change them)");
    }
  }
}

void RunFolder::keep_only_training_state(int64_t step) const {
  // An LDM run's state is its weights file: every checkpoint is kept.
  if (kind_ == RunKind::kLdm) throw std::logic_error("keep_only_training_state: an LDM run's state is its weights");
  const std::string suffix = state_suffix(kind_);
  for (const auto& entry : fs::directory_iterator(checkpoints())) {
    const auto found = step_of(entry.path().filename().string(), suffix);
    if (found && *found != step) {
      fs::remove(entry.path());
      fs::remove(checksum_path(entry.path()));
    }
  }
}

RunManifest RunFolder::read_manifest() const {
  const fs::path file = manifest();
  if (!fs::is_regular_file(file)) {
    throw Error("cannot read " + file.string() + ": is " + root_.string() + " a training run?");
  }
  nlohmann::json fields;
  try {
    fields = nlohmann::json::parse(tessera::read_file(file));
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(file.string() + ": not valid JSON: " + e.what());
  }
  if (!fields.is_object()) throw Error(file.string() + ": not a JSON object");
  RunManifest read(file, std::move(fields));
  const std::string format = read.string("format");
  if (format != format_of(kind_)) {
    throw Error(file.string() + ": field \"format\" is '" + format + "', expected '" + format_of(kind_) + "'");
  }
  return read;
}

void RunFolder::write_manifest(nlohmann::json fields) const {
  fields["format"] = format_of(kind_);
  tessera::write_file_atomically(manifest(), fields.dump(2) + "\n");
}

}  // namespace tessera::runtime
