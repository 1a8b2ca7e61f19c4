#pragma once

#include <cstdint>
#include <filesystem>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "store/keys.h"
#include "store/prompt_record.h"
#include "store/slide_record.h"
#include "store/tile_record.h"

namespace rocksdb {
class DB;
class ColumnFamilyHandle;
class WriteBatch;
}  // namespace rocksdb

namespace tessera::store {

// Bumped whenever a key or value layout changes; a store of another version is
// refused rather than misread.
inline constexpr int kSchemaVersion = 1;

// Column families, in the order they are opened.
inline constexpr const char* kMetaCf = "meta";
inline constexpr const char* kSlidesCf = "slides";
inline constexpr const char* kTilesCf = "tiles";
inline constexpr const char* kTilePixelsCf = "tile_pixels";
inline constexpr const char* kPromptsCf = "prompts";
inline constexpr const char* kLatentsCf = "latents";
inline constexpr const char* kEmbeddingsCf = "embeddings";

struct StoreOptions {
  // Open for reading only, as a RocksDB secondary instance: takes no lock, so
  // `tessera info` works while an ingest holds the store. Default: false.
  bool read_only = false;
  // Keep tile pixels in RocksDB's blob files instead of the LSM tree.
  // Default: true.
  bool pixel_blob_files = true;
};

class SlideWriter;

// One store directory: RocksDB lives in DIR/db. Thread-safe; one writer process
// at a time, enforced by RocksDB's LOCK file.
class Store {
 public:
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, const StoreOptions& options = {});
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  const std::filesystem::path& dir() const { return dir_; }
  bool read_only() const { return read_only_; }

  std::optional<SlideRecord> slide(std::string_view slide_id) const;
  std::vector<SlideRecord> slides() const;
  void put_slide(const SlideRecord& record);

  // Removes every tile of a slide (metadata and pixels) with range deletes, then
  // writes `pending` as its record: the first step of (re)doing a slide.
  void reset_slide(const SlideRecord& pending);

  // Bounded batches of one slide's tiles; see SlideWriter.
  SlideWriter slide_writer(std::string_view slide_id, size_t max_batch_bytes = size_t{4} << 20);

  void for_each_tile(std::string_view slide_id,
                     const std::function<void(const TileKey&, const TileRecord&)>& visit) const;
  uint64_t count_tiles(std::string_view slide_id) const;
  std::optional<std::string> tile_pixels(std::string_view slide_id, uint32_t row, uint32_t col) const;

  std::optional<PromptRecord> prompt(std::string_view prompt_id) const;
  std::vector<PromptRecord> prompts() const;

  // Forces memtables to SST/blob files (used by benchmarks to measure size).
  void flush();

 private:
  friend class SlideWriter;
  Store() = default;
  void write(rocksdb::WriteBatch& batch);
  rocksdb::ColumnFamilyHandle* cf(const char* name) const;

  std::filesystem::path dir_;
  std::filesystem::path secondary_dir_;
  bool read_only_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> handle_names_;
};

// Writes one slide's tiles in batches of bounded size. The slide's final record
// goes into the last batch, so a reader sees `complete` only once every tile is
// durable; a slide whose writer never committed stays `pending` and is reset
// on the next run.
class SlideWriter {
 public:
  SlideWriter(SlideWriter&&) noexcept;
  ~SlideWriter();

  void add(uint32_t row, uint32_t col, const TileRecord& record, std::string_view pixels);
  // Writes the prompt and its sources. A prompt's key is a hash of its text and
  // a source's key adds the case, so writing either again changes nothing;
  // they ride in the slide's batches.
  void add_prompt(const PromptRecord& prompt);
  void commit(const SlideRecord& final_record);
  uint64_t tiles_written() const { return tiles_written_; }

 private:
  friend class Store;
  SlideWriter(Store& store, std::string slide_id, size_t max_batch_bytes);
  void flush();

  Store* store_;
  std::string slide_id_;
  size_t max_batch_bytes_;
  std::unique_ptr<rocksdb::WriteBatch> batch_;
  uint64_t tiles_written_ = 0;
};

}  // namespace tessera::store
