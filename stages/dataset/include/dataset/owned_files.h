#pragma once

// What an export wrote into its folder: OUT/.tessera-export-files, one JSON
// string per line, each a path relative to OUT with '/' between components.
// A file or folder is listed before it is created, so that whatever a kill
// leaves behind is listed too; a listed file's temporary (partial_path)
// counts as listed. A later `export --overwrite` removes what the list names
// and refuses a folder holding anything else (pipeline/export_output_folder.h).

#include <filesystem>
#include <fstream>
#include <optional>
#include <set>
#include <string>

namespace tessera::stages {

class OwnedFiles {
 public:
  static constexpr const char* kFileName = ".tessera-export-files";

  // Starts an empty list in `folder`. Throws tessera::Error naming the file.
  explicit OwnedFiles(const std::filesystem::path& folder);

  // Lists `relative` before the caller creates it. Throws tessera::Error
  // naming the list.
  void claim(const std::string& relative);

  // The list `folder` holds; none when it has no list. Throws tessera::Error
  // naming the file and the line that is not a JSON string.
  static std::optional<std::set<std::string>> read(const std::filesystem::path& folder);
  // Whether `relative` is listed in `owned`, itself or as a listed file's temporary.
  static bool listed(const std::set<std::string>& owned, const std::string& relative);

 private:
  std::filesystem::path file_;
  std::ofstream out_;
};

}  // namespace tessera::stages
