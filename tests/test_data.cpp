#include "test_data.h"

#include <stdlib.h>
#include <sys/resource.h>
#include <tiffio.h>

#include <csignal>
#include <cstdlib>
#include <fstream>
#include <random>
#include <stdexcept>
#include <utility>
#include <vector>

#include "base/error.h"

namespace tessera::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "tessera-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

fs::path write_ahead_log(const fs::path& store_dir) {
  fs::path largest;
  for (const auto& entry : fs::directory_iterator(store_dir / "db")) {
    if (entry.path().extension() != ".log") continue;
    if (largest.empty() || entry.file_size() > fs::file_size(largest)) largest = entry.path();
  }
  if (largest.empty()) throw std::runtime_error("no write-ahead log in " + (store_dir / "db").string());
  return largest;
}

void flip_bytes(const fs::path& file, uint64_t offset, uint64_t count) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  for (uint64_t i = offset; i < offset + count; ++i) {
    f.seekg(std::streamoff(i));
    const int byte = f.get();
    if (byte == std::char_traits<char>::eof())
      throw std::runtime_error(file.string() + " ends before the bytes to flip");
    f.seekp(std::streamoff(i));
    f.put(char(byte ^ 0xFF));
  }
  if (!f.flush()) throw std::runtime_error("cannot write " + file.string());
}

std::optional<std::string> error_on_a_full_disk(const std::function<void()>& write, uint64_t bytes) {
  // In this process, not a forked child: a child of a process whose libvips
  // has started its worker threads would wait for threads it does not have.
  // Only the soft limit changes, so the old one can be restored.
  rlimit old_limit{};
  if (::getrlimit(RLIMIT_FSIZE, &old_limit) != 0) throw std::runtime_error("cannot read RLIMIT_FSIZE");
  const rlimit limit{bytes, old_limit.rlim_max};
  const auto old_handler = std::signal(SIGXFSZ, SIG_IGN);
  if (::setrlimit(RLIMIT_FSIZE, &limit) != 0) throw std::runtime_error("cannot set RLIMIT_FSIZE");
  std::optional<std::string> error;
  try {
    write();
  } catch (const Error& e) {
    error = e.what();
  } catch (...) {
    ::setrlimit(RLIMIT_FSIZE, &old_limit);
    std::signal(SIGXFSZ, old_handler);
    throw;
  }
  ::setrlimit(RLIMIT_FSIZE, &old_limit);
  std::signal(SIGXFSZ, old_handler);
  return error;
}

std::optional<fs::path> shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  const fs::path beside = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared" / "data";
  if (fs::is_directory(beside / "slides")) return beside;
  return std::nullopt;
}

fs::path make_slide(const fs::path& dir, const std::string& name, const examples::SyntheticSlideSpec& spec) {
  const fs::path path = dir / name;
  fs::create_directories(dir);
  examples::write_synthetic_slide(path.string(), spec);
  return path;
}

examples::SyntheticSlideSpec small_spec() {
  examples::SyntheticSlideSpec spec;
  spec.width = 2048;
  spec.height = 1536;
  spec.pen_width_px = 40;
  return spec;
}

void damage_level0_tiles(const std::filesystem::path& slide) {
  std::vector<std::pair<uint64_t, uint64_t>> tiles;  // offset, bytes
  {
    TIFF* tiff = TIFFOpen(slide.c_str(), "r");
    ASSERT_NE(tiff, nullptr);
    uint64_t* offsets = nullptr;
    uint64_t* sizes = nullptr;
    ASSERT_TRUE(TIFFGetField(tiff, TIFFTAG_TILEOFFSETS, &offsets));
    ASSERT_TRUE(TIFFGetField(tiff, TIFFTAG_TILEBYTECOUNTS, &sizes));
    for (uint32_t i = 0; i < TIFFNumberOfTiles(tiff); ++i) tiles.emplace_back(offsets[i], sizes[i]);
    TIFFClose(tiff);
  }
  std::fstream f(slide, std::ios::in | std::ios::out | std::ios::binary);
  std::mt19937 rng(7);
  for (const auto& [offset, bytes] : tiles) {
    f.seekp(std::streamoff(offset + bytes / 2));
    for (uint64_t i = bytes / 2; i + 2 < bytes; ++i) f.put(char(rng()));  // the end-of-image marker stays
  }
  ASSERT_TRUE(f.flush());
}

}  // namespace tessera::testing
