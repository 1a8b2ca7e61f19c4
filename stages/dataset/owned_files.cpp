#include "dataset/owned_files.h"

#include <cerrno>
#include <cstring>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {
namespace fs = std::filesystem;

OwnedFiles::OwnedFiles(const fs::path& folder)
    : file_(folder / kFileName), out_(file_, std::ios::binary | std::ios::trunc) {
  if (!out_) throw Error("cannot create " + file_.string() + ": " + std::strerror(errno));
}

void OwnedFiles::claim(const std::string& relative) {
  // Flushed at once: the entry is in the file before its path exists.
  out_ << nlohmann::json(relative).dump() << '\n' << std::flush;
  if (!out_) throw Error("cannot write " + file_.string() + ": " + std::strerror(errno));
}

std::optional<std::set<std::string>> OwnedFiles::read(const fs::path& folder) {
  const fs::path file = folder / kFileName;
  std::error_code error;
  if (!fs::exists(file, error)) return std::nullopt;
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open");
  std::set<std::string> owned;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    // A kill mid-claim leaves a last line without its newline, naming nothing that exists.
    if (in.eof()) break;
    nlohmann::json entry;
    try {
      entry = nlohmann::json::parse(line);
    } catch (const nlohmann::json::parse_error&) {
    }
    if (!entry.is_string()) throw Error(file.string() + ":" + std::to_string(number) + ": not a JSON string");
    owned.insert(entry.get<std::string>());
  }
  if (in.bad()) throw Error(file.string() + ": read failed");
  return owned;
}

bool OwnedFiles::listed(const std::set<std::string>& owned, const std::string& relative) {
  if (owned.count(relative)) return true;
  const size_t suffix = tessera::kPartialSuffix.size();
  return relative.size() > suffix && relative.compare(relative.size() - suffix, suffix, tessera::kPartialSuffix) == 0 &&
         owned.count(relative.substr(0, relative.size() - suffix));
}

}  // namespace tessera::stages
