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
#include "store/merge.h"
#include "store/model_record.h"
#include "store/prompt_record.h"
#include "store/slide_record.h"
#include "store/tensor_record.h"
#include "store/tile_record.h"
#include "store/vocabulary_record.h"

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
// The keys of `latents` with empty values: which tiles have a latent, found
// without reading the latents themselves out of their blob files.
inline constexpr const char* kLatentIndexCf = "latent_index";
// A feature extractor's features of tiles, keyed like latents: what
// `tessera evaluate` measures real tiles by, extracted once per extractor.
inline constexpr const char* kFeaturesCf = "features";
inline constexpr const char* kColumnFamilies[] = {kMetaCf,    kTilesCf,      kTilePixelsCf,  kSlidesCf,  kPromptsCf,
                                                  kLatentsCf, kEmbeddingsCf, kLatentIndexCf, kFeaturesCf};

struct StoreOptions {
  // Open for reading only: a snapshot taken at open, without the lock, so
  // `tessera info` and `tessera export` work while an ingest holds the store.
  // Default: false.
  bool read_only = false;
  // Keep tile pixels in RocksDB's blob files instead of the LSM tree.
  // Default: true.
  bool pixel_blob_files = true;
};

class SlideWriter;

// How much a store holds: what `tessera repair` compares before and after.
struct StoreCounts {
  uint64_t slides = 0;
  uint64_t complete_slides = 0;
  uint64_t tiles = 0;
  uint64_t latents = 0;     // of every first-stage model
  uint64_t embeddings = 0;  // of every text encoder
  uint64_t features = 0;    // of every feature extractor
  uint64_t prompts = 0;
};

// A slide whose record repair changed: "complete", "pending", "failed" or
// "absent" (no record).
struct SlideRollback {
  std::string id;
  std::string before;
  std::string after;
};

// What Store::repair found and did.
struct RepairResult {
  // false when the write-ahead log replayed whole, and nothing was changed.
  bool log_damaged = false;
  // The store as its damaged log gives it with the damaged records skipped:
  // every write the log still holds readable. std::nullopt when RocksDB
  // cannot replay the log past the damage (what follows it is unreadable).
  std::optional<StoreCounts> before;
  // The store now: the last consistent point, the writes up to the damage.
  StoreCounts after;
  // The slides whose record differs between `before` and `after`, by id;
  // empty when `before` is unknown.
  std::vector<SlideRollback> slides_rolled_back;
};

// One store directory: RocksDB lives in DIR/db. Thread-safe; one writer process
// at a time, enforced by RocksDB's LOCK file.
//
// Every failure is a tessera::Error that names the store, slide, tile, model
// or prompt concerned; "read failure" below is RocksDB failing to read, or a
// stored value that does not decode. A write is one RocksDB batch: when it
// throws, none of it is stored.
class Store {
 public:
  // Throws when DIR is not a tessera store (or, read-only, no store at all),
  // another process holds its lock, it has another schema version, or its
  // write-ahead log is damaged. A record torn at the very end of the log, as
  // a writer killed mid-write leaves it, is not damage: that unfinished write
  // is dropped, as every write of a killed run that never finished is.
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, const StoreOptions& options = {});
  // Opens DIR, a store whose write-ahead log is damaged, at its last
  // consistent point: the log is replayed up to the first damaged record, and
  // the writes from there on are dropped. Takes the store's lock like every
  // writer. A store whose log is whole is left as it is.
  // Throws as open() does, but never for a damaged log.
  static RepairResult repair(const std::filesystem::path& dir);
  ~Store();
  Store(const Store&) = delete;
  Store& operator=(const Store&) = delete;

  // Never fail.
  [[nodiscard]] const std::filesystem::path& dir() const { return dir_; }
  [[nodiscard]] bool read_only() const { return read_only_; }

  // std::nullopt when the slide is absent; throws on a read failure.
  [[nodiscard]] std::optional<SlideRecord> slide(std::string_view slide_id) const;
  // Throws on a read failure.
  [[nodiscard]] std::vector<SlideRecord> slides() const;
  // Throws for an invalid slide id (keys.h), on a read-only store, or when the write fails.
  void put_slide(const SlideRecord& record);

  // Removes every tile of a slide (metadata and pixels) with range deletes, then
  // writes `pending` as its record: the first step of (re)doing a slide.
  // Throws for an invalid slide id, on a read-only store, or when the write fails.
  void reset_slide(const SlideRecord& pending);

  // Bounded batches of one slide's tiles; see SlideWriter.
  // Throws for an invalid slide id.
  [[nodiscard]] SlideWriter slide_writer(std::string_view slide_id, size_t max_batch_bytes = size_t{4} << 20);

  // Throws on a read failure, and passes on what `visit` throws.
  void for_each_tile(std::string_view slide_id,
                     const std::function<void(const TileKey&, const TileRecord&)>& visit) const;
  // Throws on a read failure.
  [[nodiscard]] uint64_t count_tiles(std::string_view slide_id) const;
  // std::nullopt when the tile is absent; throws on a read failure.
  [[nodiscard]] std::optional<std::string> tile_pixels(std::string_view slide_id, uint32_t row, uint32_t col) const;

  // std::nullopt when the prompt is absent; throws on a read failure.
  [[nodiscard]] std::optional<PromptRecord> prompt(std::string_view prompt_id) const;
  // Throws on a read failure.
  [[nodiscard]] std::vector<PromptRecord> prompts() const;

  // Models whose latents or embeddings the store holds (meta "models/<id>").
  // Throws for an invalid model id (keys.h), on a read-only store, or when the write fails.
  void put_model(const ModelRecord& record);
  // put_model unless the id is registered already (its first record stays).
  // Throws as put_model does, or on a read failure.
  void ensure_model(const ModelRecord& record);
  // std::nullopt when the model is not registered; throws on a read failure.
  [[nodiscard]] std::optional<ModelRecord> model(std::string_view model_id) const;
  // Throws on a read failure.
  [[nodiscard]] std::vector<ModelRecord> models() const;

  // The vocabulary of the store's prompts (meta "vocabulary"); std::nullopt
  // when none was recorded. Throws on a read failure.
  [[nodiscard]] std::optional<VocabularyRecord> vocabulary() const;
  // Throws on a read-only store, or when the write fails.
  void put_vocabulary(const VocabularyRecord& record);

  // Latents: one per (first-stage model, tile), keyed model prefix + tile key.
  // The tiles of a slide without a latent of the model, in key order; reads
  // keys only, so a re-encode that finds nothing to do costs a key scan.
  // Throws for an invalid model id, or on a read failure.
  [[nodiscard]] std::vector<TileKey> tiles_without_latents(std::string_view model_id, std::string_view slide_id) const;
  // The same, for latents kept in another store: this store's tiles of the
  // slide without a latent of the model in `latent_store`.
  [[nodiscard]] std::vector<TileKey> tiles_without_latents(std::string_view model_id, std::string_view slide_id,
                                                           const Store& latent_store) const;
  // Throws for an invalid model id, or on a read failure.
  [[nodiscard]] uint64_t count_latents(std::string_view model_id) const;
  // Throws for an invalid model id, or on a read failure.
  [[nodiscard]] uint64_t count_latents(std::string_view model_id, std::string_view slide_id) const;
  // std::nullopt when the tile has no latent of the model; throws for an
  // invalid model id, or on a read failure.
  [[nodiscard]] std::optional<TensorRecord> latent(std::string_view model_id, std::string_view slide_id, uint32_t row,
                                                   uint32_t col) const;
  // Throws for an invalid model id, on a read failure, and passes on what `visit` throws.
  void for_each_latent(std::string_view model_id, std::string_view slide_id,
                       const std::function<void(const TileKey&, const TensorRecord&)>& visit) const;
  // Writes the latents in one batch: all of them or none.
  // Throws for an invalid model id or record, on a read-only store, or when the write fails.
  void put_latents(std::string_view model_id, const std::vector<std::pair<TileKey, TensorRecord>>& latents);

  // Embeddings: one per (text encoder, prompt id).
  // std::nullopt when the prompt has no embedding of the model; throws for an
  // invalid model id, or on a read failure.
  [[nodiscard]] std::optional<TensorRecord> embedding(std::string_view model_id, std::string_view prompt_id) const;
  // Sorted. Throws for an invalid model id, or on a read failure.
  [[nodiscard]] std::vector<std::string> embedded_prompt_ids(std::string_view model_id) const;
  // Writes the embeddings in one batch: all of them or none.
  // Throws for an invalid model id or record, on a read-only store, or when the write fails.
  void put_embeddings(std::string_view model_id, const std::vector<std::pair<std::string, TensorRecord>>& embeddings);

  // Features: one per (feature extractor, tile), keyed extractor prefix +
  // tile key. std::nullopt when the tile has none of the extractor; throws
  // for an invalid extractor id, or on a read failure.
  [[nodiscard]] std::optional<TensorRecord> features(std::string_view extractor_id, const TileKey& tile) const;
  // Throws for an invalid extractor id, or on a read failure.
  [[nodiscard]] uint64_t count_features(std::string_view extractor_id) const;
  // Writes the features in one batch: all of them or none.
  // Throws for an invalid extractor id or record, on a read-only store, or when the write fails.
  void put_features(std::string_view extractor_id, const std::vector<std::pair<TileKey, TensorRecord>>& features);

  struct GcResult {
    std::vector<std::string> removed_models;
    uint64_t latents_removed = 0;
    uint64_t embeddings_removed = 0;
    uint64_t features_removed = 0;
    uint64_t prompts_removed = 0;  // referred to by no tile (reports changed since)
  };
  // Removes the latents, embeddings, features and records of every model not in `keep`
  // with range deletes, then the prompts no tile refers to and their
  // embeddings, and compacts so that the space is returned.
  // Throws for an invalid model id in `keep`, on a read failure, on a read-only
  // store, or when the write or the compaction fails.
  GcResult gc(const std::vector<std::string>& keep);

  // Throws on a read failure.
  [[nodiscard]] StoreCounts counts() const;

  // Every raw entry of a column family in key order, as RocksDB holds it:
  // what the merge and the tests that compare whole stores read. A column
  // family the store lacks (an older store, read-only) is empty. Throws for
  // an unknown column family or on a read failure, and passes on what `visit`
  // throws.
  void for_each_entry(const char* column_family,
                      const std::function<void(std::string_view key, std::string_view value)>& visit) const;

  // Adds the shard stores at `shards` to this one in one atomic step, after
  // checking that they agree with it and with each other (store/merge.h).
  // Throws tessera::Error naming the store and the slide, model or prompt
  // that disagrees, before anything is written; on a read-only store; or when
  // RocksDB cannot build or ingest the files.
  MergeResult merge(const std::vector<std::filesystem::path>& shards, const MergeOptions& options = {});

  // Forces memtables to table and blob files: what makes writes that skipped
  // the write-ahead log durable. Does nothing on a read-only store; throws
  // when RocksDB cannot flush.
  void flush();

 private:
  friend class SlideWriter;
  friend class ShardMerge;
  // What opening does with a damaged record of the write-ahead log.
  enum class LogReplay {
    kRefuseDamage,  // throw; only a torn last record is dropped
    kStopAtDamage,  // keep the writes before it, drop it and every later one
    kSkipDamage,    // drop the damaged records only (read-only: a view, never stored)
  };
  static std::unique_ptr<Store> open(const std::filesystem::path& dir, const StoreOptions& options, LogReplay replay);
  Store() = default;
  // kUnlogged skips the write-ahead log: the batch is lost if the process
  // dies before the memtables holding it reach table files (flush()).
  enum class Logging { kLogged, kUnlogged };
  void write(rocksdb::WriteBatch& batch, Logging logging = Logging::kLogged);
  rocksdb::ColumnFamilyHandle* cf(const char* name) const;
  bool has_cf(const char* name) const;
  uint64_t count_keys(const char* cf_name, const std::string& begin, const std::string& end) const;

  std::filesystem::path dir_;
  bool read_only_ = false;
  std::unique_ptr<rocksdb::DB> db_;
  std::vector<rocksdb::ColumnFamilyHandle*> handles_;
  std::vector<std::string> handle_names_;
};

// Writes one slide's tiles in batches of bounded size. The tiles skip the
// write-ahead log, so their pixels are written once, to blob files, instead of
// twice (and checksummed once: Debian's RocksDB computes CRC32C in software).
// commit() flushes them to table and blob files before it writes the slide's
// final record, through the log; so a reader sees `complete` only once every
// tile is durable, and a slide whose writer never committed stays `pending`
// and is reset on the next run, whichever of its tiles a kill lost.
class SlideWriter {
 public:
  SlideWriter(SlideWriter&&) noexcept;
  ~SlideWriter();

  // Throws for an invalid record (tile_record.h), or when the batch it fills
  // cannot be written (a read-only store, a failed write).
  void add(uint32_t row, uint32_t col, const TileRecord& record, std::string_view pixels);
  // Writes the prompt and its sources. A prompt's key is a hash of its text and
  // a source's key adds the case, so writing either again changes nothing;
  // they ride in the slide's batches.
  // Only adds to the batch: its failure shows at the next add, add_latent or commit.
  void add_prompt(const PromptRecord& prompt);
  // A tile's latent, riding in the same batches as the tiles, so a slide
  // encoded while it is ingested is complete with its latents or not at all.
  // Throws for an invalid model id or record, or when the batch it fills cannot be written.
  void add_latent(std::string_view model_id, uint32_t row, uint32_t col, const TensorRecord& latent);
  // Throws when `final_record` is another slide's, or when the last batch cannot be written.
  void commit(const SlideRecord& final_record);
  // Never fails.
  [[nodiscard]] uint64_t tiles_written() const { return tiles_written_; }

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
