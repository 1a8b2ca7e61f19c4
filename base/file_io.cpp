#include "base/file_io.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <sstream>

#include "base/error.h"

namespace tessera {
namespace fs = std::filesystem;

std::string read_file(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path.string() + ": cannot open");
  std::ostringstream bytes;
  bytes << in.rdbuf();
  if (in.bad()) throw Error(path.string() + ": read failed");
  return bytes.str();
}

void write_file(const fs::path& path, std::string_view bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), std::streamsize(bytes.size()));
  out.close();
  if (!out) throw Error("cannot write " + path.string() + ": " + std::strerror(errno));
}

fs::path partial_path(const fs::path& path) { return fs::path(path.string().append(kPartialSuffix)); }

void write_file_atomically(const fs::path& path, std::string_view bytes) {
  const fs::path temporary = partial_path(path);
  std::error_code error;
  try {
    write_file(temporary, bytes);
  } catch (const Error&) {
    fs::remove(temporary, error);
    throw;
  }
  fs::rename(temporary, path, error);
  if (error) {
    const std::string why = error.message();
    fs::remove(temporary, error);
    throw Error("cannot write " + path.string() + ": " + why);
  }
}

}  // namespace tessera
