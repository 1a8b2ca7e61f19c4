#include "dataset/tar_reader.h"

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <fstream>

#include "base/error.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kBlock = 512;

uint64_t padded(uint64_t size) { return (size + kBlock - 1) / kBlock * kBlock; }

std::string field_text(const char* field, size_t width) { return std::string(field, strnlen(field, width)); }

// A numeric header field: octal digits, or base-256 when its first byte has the high bit set.
uint64_t header_number(const char* field, size_t width) {
  const auto* bytes = reinterpret_cast<const unsigned char*>(field);
  uint64_t value = 0;
  if (bytes[0] & 0x80) {
    for (size_t i = 1; i < width; ++i) value = (value << 8) | bytes[i];
    return value;
  }
  size_t i = 0;
  while (i < width && (field[i] == ' ' || field[i] == '\0')) ++i;
  for (; i < width && field[i] >= '0' && field[i] <= '7'; ++i) value = value * 8 + uint64_t(field[i] - '0');
  return value;
}

bool checksum_matches(const char* header) {
  uint64_t sum = 0;
  for (size_t i = 0; i < kBlock; ++i) sum += (i >= 148 && i < 156) ? uint8_t(' ') : uint8_t(header[i]);
  return header_number(header + 148, 8) == sum;
}

// "LEN key=value\n" records: the path and size they set, when they do.
void read_pax(const std::string& records, std::string& path, uint64_t& size, bool& has_size) {
  size_t at = 0;
  while (at < records.size()) {
    const size_t space = records.find(' ', at);
    if (space == std::string::npos) break;
    const uint64_t length = std::strtoull(records.c_str() + at, nullptr, 10);
    if (length == 0 || at + length > records.size()) break;
    const std::string record = records.substr(space + 1, at + length - space - 2);
    if (record.rfind("path=", 0) == 0) path = record.substr(5);
    if (record.rfind("size=", 0) == 0) {
      size = std::strtoull(record.c_str() + 5, nullptr, 10);
      has_size = true;
    }
    at += length;
  }
}

}  // namespace

std::vector<TarMember> list_tar_members(const fs::path& archive) {
  std::ifstream in(archive, std::ios::binary);
  if (!in) throw Error(archive.string() + ": cannot open: " + std::strerror(errno));
  const uint64_t file_size = fs::file_size(archive);
  std::vector<TarMember> members;
  std::string long_name;  // from a pax `path` or a GNU 'L' entry, for the next member
  uint64_t pax_size = 0;
  bool has_pax_size = false;
  char header[kBlock];
  uint64_t at = 0;
  const auto read_data = [&](uint64_t size) {
    std::string data(size, '\0');
    in.seekg(std::streamoff(at + kBlock));
    if (!in.read(data.data(), std::streamsize(size))) {
      throw Error(archive.string() + ": the entry at byte " + std::to_string(at) + " runs past the end of the file");
    }
    return data;
  };
  while (at + kBlock <= file_size) {
    in.seekg(std::streamoff(at));
    if (!in.read(header, kBlock))
      throw Error(archive.string() + ": cannot read the header at byte " + std::to_string(at));
    if (std::all_of(header, header + kBlock, [](char c) { return c == 0; })) break;  // the end blocks
    if (!checksum_matches(header)) {
      throw Error(archive.string() + ": the tar header at byte " + std::to_string(at) +
                  (members.empty() && at == 0 ? " has a wrong checksum: not a tar archive"
                                              : " has a wrong checksum: the archive is damaged"));
    }
    const char type = header[156];
    uint64_t size = header_number(header + 124, 12);
    if (has_pax_size && type != 'x' && type != 'g') size = pax_size;
    if (at + kBlock + size > file_size) {
      throw Error(archive.string() + ": the entry at byte " + std::to_string(at) + " runs past the end of the file");
    }
    if (type == 'x') {
      read_pax(read_data(size), long_name, pax_size, has_pax_size);
    } else if (type == 'L') {
      long_name = read_data(size);
      long_name.resize(strnlen(long_name.c_str(), long_name.size()));
    } else if (type == 'g') {
      // global records name no member
    } else {
      if (type == '0' || type == '\0' || type == '7') {
        std::string name = field_text(header, 100);
        const std::string prefix = field_text(header + 345, 155);
        if (!prefix.empty() && std::string(header + 257, 5) == "ustar") name = prefix + "/" + name;
        if (!long_name.empty()) name = long_name;
        members.push_back({name, at + kBlock, size});
      }
      long_name.clear();
      has_pax_size = false;
    }
    at += kBlock + padded(size);
  }
  return members;
}

std::string read_tar_member(const fs::path& archive, const TarMember& member) {
  std::ifstream in(archive, std::ios::binary);
  std::string data(member.size, '\0');
  in.seekg(std::streamoff(member.offset));
  if (!in || !in.read(data.data(), std::streamsize(member.size))) {
    throw Error(archive.string() + ": cannot read member " + member.name);
  }
  return data;
}

}  // namespace tessera::stages
