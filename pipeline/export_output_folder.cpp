#include "export_output_folder.h"

#include <algorithm>
#include <system_error>

#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDatasetFile = "dataset.json";

// Every entry under `out`, relative, sorted (so a folder comes before what
// it holds); symbolic links are listed, never followed.
std::vector<std::string> entries_under(const fs::path& out) {
  std::vector<std::string> entries;
  std::error_code error;
  for (fs::recursive_directory_iterator it(out, error), end; !error && it != end; it.increment(error)) {
    entries.push_back(it->path().lexically_relative(out).generic_string());
  }
  if (error) throw Error(out.string() + ": cannot list: " + error.message());
  std::sort(entries.begin(), entries.end());
  return entries;
}

bool bookkeeping(const std::string& relative) {
  return relative == FolderLock::kFileName || relative == stages::OwnedFiles::kFileName;
}

}  // namespace

std::vector<fs::path> earlier_export(const ExportOptions& options) {
  const fs::path& out = options.out;
  std::error_code error;
  if (!fs::exists(out, error)) return {};
  if (!fs::is_directory(out, error)) throw Error("output " + out.string() + " is not a folder");
  const auto entries = entries_under(out);
  const auto owned = stages::OwnedFiles::read(out);
  std::vector<fs::path> earlier;
  for (const auto& relative : entries) {
    if (bookkeeping(relative)) continue;
    if (!options.overwrite) {
      throw Error("output folder " + out.string() + " is not empty (it holds " + relative +
                  "); pass --overwrite to replace an earlier export");
    }
    if (!owned || !stages::OwnedFiles::listed(*owned, relative)) {
      throw Error("output folder " + out.string() + " holds " + relative + ", which no earlier export listed in " +
                  (out / stages::OwnedFiles::kFileName).string() +
                  " as its own; --overwrite only removes what an export wrote");
    }
    earlier.push_back(out / relative);
  }
  // What a folder holds sorts after it: reversed, each folder is empty when its turn comes.
  std::reverse(earlier.begin(), earlier.end());
  return earlier;
}

void remove_earlier_export(const fs::path& out, const std::vector<fs::path>& owned) {
  for (const auto& path : owned) {
    std::error_code error;
    fs::remove(path, error);
    if (error) throw Error("cannot remove " + path.string() + ": " + error.message());
  }
  std::error_code error;
  const fs::path list = out / stages::OwnedFiles::kFileName;
  fs::remove(list, error);
  if (error) throw Error("cannot remove " + list.string() + ": " + error.message());
}

void write_dataset_json(const fs::path& out, const std::string& text, stages::OwnedFiles& owned) {
  owned.claim(kDatasetFile);
  tessera::write_file_atomically(out / kDatasetFile, text);
}

}  // namespace tessera::pipeline
