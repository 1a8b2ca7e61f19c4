#include "dataset/tar_writer.h"

#include <unistd.h>

#include <array>
#include <cerrno>
#include <cstring>
#include <optional>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

constexpr uint64_t kMaxOctalSize = 077777777777;  // 11 octal digits
constexpr size_t kNameBytes = 100;
constexpr size_t kPrefixBytes = 155;

uint64_t padded(uint64_t size) { return (size + TarWriter::kBlock - 1) / TarWriter::kBlock * TarWriter::kBlock; }

// Where `name` is split into ustar's prefix and name fields: the index of a '/'
// leaving at most 155 bytes before it and 1 to 100 after it; none if no '/' does.
std::optional<size_t> prefix_split(std::string_view name) {
  for (size_t i = 0; i < name.size() && i <= kPrefixBytes; ++i) {
    if (name[i] != '/') continue;
    const size_t rest = name.size() - i - 1;
    if (rest >= 1 && rest <= kNameBytes) return i;
  }
  return std::nullopt;
}

bool fits_ustar(std::string_view name) { return name.size() <= kNameBytes || prefix_split(name).has_value(); }

// One pax record, "LEN key=value\n", where LEN counts the whole record including its own digits.
std::string pax_record(std::string_view key, std::string_view value) {
  const size_t body = 1 + key.size() + 1 + value.size() + 1;  // ' ' key '=' value '\n'
  size_t length = body + 1;
  while (std::to_string(length).size() + body != length) length = std::to_string(length).size() + body;
  return std::to_string(length) + ' ' + std::string(key) + '=' + std::string(value) + '\n';
}

std::string pax_records(std::string_view name, uint64_t size) {
  std::string records;
  if (!fits_ustar(name)) records += pax_record("path", name);
  if (size > kMaxOctalSize) records += pax_record("size", std::to_string(size));
  return records;
}

void put_octal(char* field, size_t width, uint64_t value) {
  // width - 1 digits, then NUL.
  std::snprintf(field, width, "%0*llo", int(width - 1), (unsigned long long)value);
}

void put_text(char* field, size_t width, std::string_view text) {
  std::memcpy(field, text.data(), std::min(width, text.size()));
}

}  // namespace

TarWriter::TarWriter(fs::path path, int64_t mtime)
    : path_(std::move(path)), partial_(tessera::partial_path(path_)), mtime_(mtime) {
  if (mtime_ < 0 || uint64_t(mtime_) > kMaxOctalSize) {
    throw Error("tar mtime " + std::to_string(mtime_) + " for " + path_.string() + " is out of range");
  }
  file_ = std::fopen(partial_.c_str(), "wb");
  if (!file_) throw Error("cannot create " + partial_.string() + ": " + std::strerror(errno));
}

TarWriter::~TarWriter() {
  if (!file_) return;
  std::fclose(file_);
  std::error_code ignored;
  fs::remove(partial_, ignored);
}

uint64_t TarWriter::member_bytes(std::string_view name, uint64_t size) {
  const std::string pax = pax_records(name, size);
  const uint64_t pax_bytes = pax.empty() ? 0 : kBlock + padded(pax.size());
  return pax_bytes + kBlock + padded(size);
}

void TarWriter::write(const void* data, size_t size) {
  if (size == 0) return;
  if (std::fwrite(data, 1, size, file_) != size) {
    throw Error("cannot write " + partial_.string() + ": " + std::strerror(errno));
  }
  bytes_ += size;
}

void TarWriter::write_header(std::string_view name, uint64_t size, char type) {
  std::array<char, kBlock> h{};
  if (name.size() <= kNameBytes) {
    put_text(&h[0], kNameBytes, name);
  } else if (const auto split = prefix_split(name)) {
    put_text(&h[345], kPrefixBytes, name.substr(0, *split));
    put_text(&h[0], kNameBytes, name.substr(*split + 1));
  } else {
    // Readers that know pax take the name from the `path` record; this is what others see.
    put_text(&h[0], kNameBytes, name.substr(0, kNameBytes));
  }
  put_octal(&h[100], 8, 0644);
  put_octal(&h[108], 8, 0);  // uid
  put_octal(&h[116], 8, 0);  // gid
  put_octal(&h[124], 12, std::min(size, kMaxOctalSize));
  put_octal(&h[136], 12, uint64_t(mtime_));
  h[156] = type;
  std::memcpy(&h[257], "ustar", 6);  // magic with its NUL
  std::memcpy(&h[263], "00", 2);     // version
  put_octal(&h[329], 8, 0);          // devmajor
  put_octal(&h[337], 8, 0);          // devminor
  // The checksum is the sum of the header's bytes, counting its own field as spaces.
  std::memset(&h[148], ' ', 8);
  uint32_t sum = 0;
  for (const char c : h) sum += uint8_t(c);
  std::snprintf(&h[148], 7, "%06o", unsigned(sum));
  h[154] = '\0';
  h[155] = ' ';
  write(h.data(), h.size());
}

void TarWriter::add(std::string_view name, std::string_view data) {
  if (!file_) throw Error("tar " + path_.string() + " is already closed");
  if (name.empty() || name.find('\0') != std::string_view::npos) {
    throw Error("tar member name for " + path_.string() + " is empty or holds a NUL byte");
  }
  static const std::array<char, kBlock> zeros{};
  const std::string pax = pax_records(name, data.size());
  if (!pax.empty()) {
    std::string pax_name = "PaxHeaders/" + std::string(name.substr(name.rfind('/') + 1));
    if (pax_name.size() > kNameBytes) pax_name.resize(kNameBytes);
    write_header(pax_name, pax.size(), 'x');
    write(pax.data(), pax.size());
    write(zeros.data(), padded(pax.size()) - pax.size());
  }
  write_header(name, data.size(), '0');
  write(data.data(), data.size());
  write(zeros.data(), padded(data.size()) - data.size());
  ++members_;
}

void TarWriter::close() {
  if (!file_) return;
  static const std::array<char, kEndBytes> zeros{};
  write(zeros.data(), zeros.size());
  const bool flushed = std::fflush(file_) == 0 && fsync(fileno(file_)) == 0;
  const int saved = errno;
  const bool closed = std::fclose(file_) == 0;
  file_ = nullptr;
  if (!flushed || !closed) {
    std::error_code ignored;
    fs::remove(partial_, ignored);
    throw Error("cannot write " + partial_.string() + ": " + std::strerror(flushed ? errno : saved));
  }
  std::error_code ec;
  fs::rename(partial_, path_, ec);
  if (ec) throw Error("cannot rename " + partial_.string() + " to " + path_.string() + ": " + ec.message());
}

}  // namespace tessera::stages
