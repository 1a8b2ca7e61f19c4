#include "runtime/checkpoint_checksum.h"

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"
#include "config/content_hash.h"

namespace tessera::runtime {
namespace fs = std::filesystem;

std::string file_digest(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open to checksum: " + std::strerror(errno));
  config::ContentHash hash;
  std::vector<char> block(size_t{4} << 20);
  while (in) {
    in.read(block.data(), std::streamsize(block.size()));
    if (in.gcount() > 0) hash.bytes(block.data(), size_t(in.gcount()));
  }
  if (in.bad()) throw Error(file.string() + ": cannot read to checksum");
  return hash.hex();
}

fs::path checksum_path(const fs::path& file) { return fs::path(file.string() + ".xxh128"); }

void write_checksum(const fs::path& file) {
  write_file_atomically(checksum_path(file), file_digest(file) + "  " + file.filename().string() + "\n");
}

bool verify_checksum(const fs::path& file) {
  const fs::path sidecar = checksum_path(file);
  if (!fs::exists(sidecar)) return false;
  const std::string line = read_file(sidecar);
  const std::string recorded = line.substr(0, line.find_first_of(" \n"));
  const std::string actual = file_digest(file);
  if (recorded != actual) {
    throw Error(file.string() + ": checksum mismatch (XXH3-128 " + actual + ", " + sidecar.filename().string() +
                " records " + recorded + "): the file changed after it was written and is not read");
  }
  return true;
}

}  // namespace tessera::runtime
