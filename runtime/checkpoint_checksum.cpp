#include "runtime/checkpoint_checksum.h"

#include <xxhash.h>

#include <cerrno>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::runtime {
namespace fs = std::filesystem;
namespace {

// The XXH3-128 of the file's bytes, as 32 hex digits, read in blocks so that
// a checkpoint of any size takes one buffer.
std::string file_digest(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  if (!in) throw Error(file.string() + ": cannot open to checksum: " + std::strerror(errno));
  const std::unique_ptr<XXH3_state_t, decltype(&XXH3_freeState)> state(XXH3_createState(), &XXH3_freeState);
  if (!state || XXH3_128bits_reset(state.get()) != XXH_OK) throw Error(file.string() + ": cannot start XXH3");
  std::vector<char> block(size_t{4} << 20);
  while (in) {
    in.read(block.data(), std::streamsize(block.size()));
    if (in.gcount() > 0 && XXH3_128bits_update(state.get(), block.data(), size_t(in.gcount())) != XXH_OK) {
      throw Error(file.string() + ": XXH3 failed");
    }
  }
  if (in.bad()) throw Error(file.string() + ": cannot read to checksum");
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state.get()));
  std::string hex;
  for (const unsigned char byte : canonical.digest) {
    char pair[3];
    std::snprintf(pair, sizeof pair, "%02x", byte);
    hex += pair;
  }
  return hex;
}

}  // namespace

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
