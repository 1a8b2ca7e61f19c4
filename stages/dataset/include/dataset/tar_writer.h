#pragma once

#include <cstdint>
#include <cstdio>
#include <filesystem>
#include <string>
#include <string_view>

namespace tessera::stages {

// Writes a POSIX ustar archive of regular files (mode 0644, uid/gid 0, empty
// owner names, one fixed mtime), so the same members give the same bytes.
// Names of up to 100 bytes go in the header's `name`; longer ones are split
// into `prefix` and `name` at a '/', and those that cannot be split get a pax
// extended header (`path=`), as does a member of 8 GiB or more (`size=`).
//
// The archive is written to PATH.partial (tessera::partial_path) and renamed to PATH by close(), so a
// crash never leaves a half archive under its final name; a writer destroyed
// without close() removes its partial file.
class TarWriter {
 public:
  static constexpr uint64_t kBlock = 512;
  static constexpr uint64_t kEndBytes = 2 * kBlock;  // the two zero blocks that end an archive

  explicit TarWriter(std::filesystem::path path, int64_t mtime = 0);
  ~TarWriter();
  TarWriter(const TarWriter&) = delete;
  TarWriter& operator=(const TarWriter&) = delete;

  void add(std::string_view name, std::string_view data);
  void close();

  // Archive bytes written so far; the end blocks count once close() wrote them.
  uint64_t bytes() const { return bytes_; }
  uint64_t members() const { return members_; }
  const std::filesystem::path& path() const { return path_; }

  // Bytes add(name, data of `size` bytes) appends: headers, data, padding.
  static uint64_t member_bytes(std::string_view name, uint64_t size);

 private:
  void write(const void* data, size_t size);
  void write_header(std::string_view name, uint64_t size, char type);

  std::filesystem::path path_;
  std::filesystem::path partial_;
  int64_t mtime_;
  std::FILE* file_ = nullptr;
  uint64_t bytes_ = 0;
  uint64_t members_ = 0;
};

}  // namespace tessera::stages
