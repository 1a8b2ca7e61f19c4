#include "export_output_folder.h"

#include <algorithm>
#include <regex>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kDatasetFile = "dataset.json";

std::string partial_dataset_file() { return std::string(kDatasetFile) + ".partial"; }

// What an export writes at the top of its folder, temporaries included.
bool owned_entry(const std::string& name) {
  static const std::regex shard(R"((train|val)-[0-9]{6}\.tar(\.partial)?)");
  return name == kDatasetFile || name == partial_dataset_file() || name == kTrain || name == kVal ||
         std::regex_match(name, shard);
}

}  // namespace

std::vector<fs::path> earlier_export(const ExportOptions& options) {
  std::error_code ec;
  if (!fs::exists(options.out, ec)) return {};
  if (!fs::is_directory(options.out, ec)) throw Error("output " + options.out.string() + " is not a folder");
  std::vector<fs::path> owned;
  for (const auto& entry : fs::directory_iterator(options.out)) {
    const std::string name = entry.path().filename().string();
    if (!options.overwrite) {
      throw Error("output folder " + options.out.string() + " is not empty (it holds " + name +
                  "); pass --overwrite to replace an earlier export");
    }
    if (!owned_entry(name)) {
      throw Error("output folder " + options.out.string() + " holds " + name +
                  ", which an export does not write; --overwrite only replaces an earlier export");
    }
    owned.push_back(entry.path());
  }
  std::sort(owned.begin(), owned.end());
  return owned;
}

void write_dataset_json(const fs::path& out, const std::string& text) {
  const fs::path final_path = out / kDatasetFile;
  const fs::path partial = out / partial_dataset_file();
  tessera::write_file(partial, text);
  std::error_code ec;
  fs::rename(partial, final_path, ec);
  if (ec) throw Error("cannot rename " + partial.string() + " to " + final_path.string() + ": " + ec.message());
}

}  // namespace tessera::pipeline
