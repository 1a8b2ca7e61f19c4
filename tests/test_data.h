#pragma once

// What the unit tests of the torch-free libraries share: scratch directories,
// the shared data beside the checkout and synthetic slides. Links no
// LibTorch, so these tests build in the sanitizer build too.

#include <gtest/gtest.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>

#include "examples/synthetic_slide.h"

namespace tessera::testing {

// A fresh directory under the system temp dir, removed with its contents.
class TempDir {
 public:
  TempDir();
  ~TempDir();
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The write-ahead log of a store: the largest of DIR/db/*.log (RocksDB
// starts a new, empty one when it flushes).
std::filesystem::path write_ahead_log(const std::filesystem::path& store_dir);

// Inverts `count` bytes of a file from `offset` on, as a failing disk would.
void flip_bytes(const std::filesystem::path& file, uint64_t offset, uint64_t count);

// Runs `write` while this process's files may grow to `bytes` at most, as on
// a full disk, with SIGXFSZ ignored so the write fails instead of killing the
// process. Returns what tessera::Error `write` threw, or nullopt when it threw
// none; the limit is lifted again either way.
std::optional<std::string> error_on_a_full_disk(const std::function<void()>& write, uint64_t bytes);

// Randomises the second half of every level-0 tile's compressed data, and
// keeps the TIFF structure and each tile's JPEG headers: a slide whose
// scanner or disk damaged the tiles, not the file.
void damage_level0_tiles(const std::filesystem::path& slide);

// ../shared/data beside the checkout (or $TESSERA_SHARED_DATA), if present.
std::optional<std::filesystem::path> shared_data();

#define TESSERA_REQUIRE_SHARED_DATA(var)                                            \
  const auto var##_opt = ::tessera::testing::shared_data();                         \
  if (!var##_opt) GTEST_SKIP() << "../shared/data is not present in this checkout"; \
  const std::filesystem::path var = *var##_opt

// A small synthetic slide (see examples/synthetic_slide.h), cached per spec in
// the test's temp dir.
std::filesystem::path make_slide(const std::filesystem::path& dir, const std::string& name,
                                 const examples::SyntheticSlideSpec& spec);

// The spec most tests use: 2048 x 1536 at 0.5 µm/px, 8 x 6 tiles of 256.
examples::SyntheticSlideSpec small_spec();

}  // namespace tessera::testing
