#pragma once

// A synthetic set: the folder `tessera generate` writes and `tessera export
// --synthetic` reads (docs/GENERATE.md, docs/EXPORT.md). It holds
// generate.json (the settings its images depend on), manifest.jsonl (one row
// per image, appended once the image exists) and images/; while generate
// writes it, its lock (base/folder_lock.h).

#include <cstdint>
#include <filesystem>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "base/folder_lock.h"

namespace tessera::stages {

// The most images one synthetic set holds: a hundred million files in one
// images/ folder, with the image -> prompt plan (a word per image) in memory
// while it is generated.
inline constexpr uint64_t kMaxSyntheticImages = 100'000'000;

// One image of a synthetic set: a line of manifest.jsonl. Objects keep the
// order they are written in.
struct SyntheticRow {
  std::string file;  // relative to the set's folder: a .png, .jpg or .jpeg inside it
  std::string prompt;
  std::string prompt_id;                                             // 32 lowercase hex digits
  uint64_t seed = 0;                                                 // the run's seed
  uint64_t index = 0;                                                // unique in the set; it names the sample
  nlohmann::ordered_json fields = nlohmann::ordered_json::object();  // field name -> string value
  nlohmann::ordered_json model_ids = nlohmann::ordered_json::object();
  nlohmann::ordered_json sampler = nlohmann::ordered_json::object();
};

// A row read back, with the image it names found and checked.
struct SyntheticImage {
  SyntheticRow row;
  std::filesystem::path image;  // the set's folder / row.file
  std::string extension;        // "png" or "jpg"
  std::string origin;           // "MANIFEST:LINE"
};

class SyntheticSet {
 public:
  explicit SyntheticSet(std::filesystem::path dir);

  const std::filesystem::path& dir() const { return dir_; }
  std::filesystem::path manifest_path() const;

  // Where image `index` goes: images/NNNNNN.png, or .jpg for `format` "jpeg".
  static std::string image_file(uint64_t index, const std::string& format);

  // The one writer's lock on the set, held for as long as it writes; creates
  // the folder. Throws tessera::Error naming the folder when another process
  // holds it (FolderLock).
  [[nodiscard]] FolderLock lock() const;
  // Accepts a folder that does not exist or is empty (its lock aside), or whose generate.json
  // holds exactly `settings`. Throws tessera::Error naming every setting that
  // differs, or the folder when it holds files but no generate.json.
  void check_settings(const nlohmann::json& settings) const;
  // Writes generate.json atomically; throws tessera::Error naming the file.
  void write_settings(const nlohmann::json& settings, uint64_t n, const std::string& checkpoint,
                      const std::string& updated) const;

  bool has_manifest() const;
  // Every row in file order, each checked as docs/EXPORT.md lists (the image
  // exists and its first bytes match its extension; indices are unique);
  // blank lines are skipped. Throws tessera::Error naming the folder, or the
  // manifest's line and the field at fault.
  std::vector<SyntheticImage> read_rows() const;
  // A kill mid-append leaves a last line without its newline: cuts it off the
  // file and returns true; false when the manifest ends with a whole line or
  // does not exist. Throws tessera::Error when the file cannot be read.
  bool drop_unfinished_row() const;
  // Appends the rows in one write. Throws tessera::Error naming the manifest.
  void append_rows(const std::vector<SyntheticRow>& rows) const;
  // The manifest line of `row`, without its newline.
  static std::string row_line(const SyntheticRow& row);

 private:
  std::filesystem::path dir_;
};

}  // namespace tessera::stages
