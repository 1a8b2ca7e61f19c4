#pragma once

// A training run's folder, the one owner of its layout:
//   run.json                                    the run's record (RunManifest); its "format" names the kind
//   config.yaml                                 LDM runs: the config as given; a resumed run uses this copy
//   checkpoints/step-NNNNNNNN.safetensors       the weights to sample or encode with; an LDM run's
//                                               holds its whole training state too
//   checkpoints/step-NNNNNNNN.train.safetensors VAE runs: what resuming needs besides the weights
//   checkpoints/<file>.xxh128                   each checkpoint file's checksum (runtime/checkpoint_checksum.h)
//   loss.csv, loss.png                          runtime/loss_log.h
//   samples/step-NNNNNNNN.png                   LDM runs: sample grids
//   vae.safetensors                             VAE runs: the weights at the last step
//   .tessera-lock                               held by the process writing the run (base/folder_lock.h)
// Step numbers are written with eight digits or more and read with any count.
//
// One resume policy for both kinds: a resumed run continues from the newest
// checkpoint whose files are all there, and only when every setting it
// records (RunSettings) is the one the run has now.

#include <cstdint>
#include <filesystem>
#include <map>
#include <nlohmann/json.hpp>
#include <optional>
#include <string>

#include "base/folder_lock.h"
#include "store/vocabulary_record.h"

namespace tessera::runtime {

enum class RunKind { kLdm, kVae };

// What a resumed run must share with the checkpoint it starts from for its
// losses to continue exactly, by name; kept in every checkpoint's metadata.
using RunSettings = std::map<std::string, std::string>;

// run.json as read: typed fields whose errors name the file and the field.
class RunManifest {
 public:
  RunManifest(std::filesystem::path file, nlohmann::json fields);

  bool has(const std::string& key) const;
  // A non-empty string; "vae.config" reads a field of an object. Throws
  // tessera::Error naming the file and the field when it is missing or not one.
  std::string string(const std::string& key) const;
  // A path field: as written when absolute, else inside the run folder.
  // Throws as string().
  std::filesystem::path path(const std::string& key) const;
  // A non-negative integer. Throws as string().
  uint64_t unsigned_integer(const std::string& key) const;
  // The vocabulary of the prompts the run trained on (field "vocabulary",
  // written by vocabulary_field); std::nullopt when it trained on none, or
  // before vocabularies were recorded. Throws as string() when malformed.
  std::optional<store::VocabularyRecord> vocabulary() const;

 private:
  const nlohmann::json* find(const std::string& key) const;  // nullptr when absent
  const nlohmann::json& field(const std::string& key) const;

  std::filesystem::path file_;
  nlohmann::json fields_;
};

// run.json's "vocabulary": the record, or null.
nlohmann::json vocabulary_field(const std::optional<store::VocabularyRecord>& vocabulary);

class RunFolder {
 public:
  RunFolder(std::filesystem::path root, RunKind kind);

  const std::filesystem::path& root() const { return root_; }
  RunKind kind() const { return kind_; }
  std::filesystem::path manifest() const { return root_ / "run.json"; }
  std::filesystem::path config_copy() const { return root_ / "config.yaml"; }
  std::filesystem::path checkpoints() const { return root_ / "checkpoints"; }
  std::filesystem::path weights(int64_t step) const;
  // The file a run resumes from: an LDM run's weights file, a VAE run's
  // .train.safetensors beside its weights.
  std::filesystem::path training_state(int64_t step) const;
  std::filesystem::path loss_csv() const { return root_ / "loss.csv"; }
  std::filesystem::path loss_png() const { return root_ / "loss.png"; }
  std::filesystem::path sample_grid(int64_t step) const;
  std::filesystem::path final_weights() const { return root_ / "vae.safetensors"; }

  // The one writer's lock on the run, held for as long as it writes; creates
  // the folder. Throws tessera::Error naming the folder when another process
  // holds it (FolderLock).
  [[nodiscard]] FolderLock lock() const;
  // Throws tessera::Error naming the folder when it is a file, or when it
  // holds files (its lock aside) and the run does not resume.
  void check_usable(bool resume) const;
  // The newest step with its training state and weights; none before the
  // first checkpoint. Throws tessera::Error when the folder cannot be listed.
  std::optional<int64_t> newest_resumable_step() const;
  // The weights of the highest step. Throws tessera::Error naming the
  // checkpoints folder when it holds none.
  std::filesystem::path newest_weights() const;
  // The resume policy: the step's files match their checksums (a file
  // without one is accepted with a warning) and every setting is the same.
  // Throws tessera::Error naming the file whose checksum differs, or the
  // checkpoint and the first setting whose recorded value (or its absence)
  // differs from `current`; model::WeightsError when the state file cannot be
  // read.
  void check_resume_settings(int64_t step, const RunSettings& current) const;
  // VAE runs: deletes every training state but `step`'s, since only the
  // newest is needed to resume. Throws std::filesystem::filesystem_error
  // naming the file; std::logic_error for an LDM run, whose states are its
  // weights.
  void keep_only_training_state(int64_t step) const;

  // Throws tessera::Error naming run.json when it is missing, not a JSON
  // object, or of another kind's format.
  RunManifest read_manifest() const;
  // Writes `fields` with this kind's "format" as run.json, atomically.
  // Throws tessera::Error naming the file when it cannot be written.
  void write_manifest(nlohmann::json fields) const;

 private:
  std::filesystem::path root_;
  RunKind kind_;
};

}  // namespace tessera::runtime
