#include "store/store.h"

#include <rocksdb/db.h>
#include <rocksdb/options.h>
#include <rocksdb/table.h>
#include <rocksdb/write_batch.h>
#include <stdlib.h>

#include <algorithm>
#include <map>
#include <set>

#include "base/error.h"
#include "meta_keys.h"

namespace tessera::store {
namespace fs = std::filesystem;
namespace {

// Pixels and latents are 10-50 KB values: in blob files they skip the LSM
// tree's rewrites during compaction. JPEG is already entropy-coded.
constexpr uint64_t kMinBlobBytes = 2048;
// A negative zstd level: zstd's fast mode.
constexpr int kPixelTableZstdLevel = -5;

rocksdb::ColumnFamilyOptions column_family_options(const std::string& name, const StoreOptions& options) {
  rocksdb::ColumnFamilyOptions cf;
  cf.compression = rocksdb::kZSTD;
  cf.bottommost_compression = rocksdb::kZSTD;
  cf.write_buffer_size = size_t{32} << 20;
  if (name == kTilePixelsCf || name == kLatentsCf) {
    cf.enable_blob_files = options.pixel_blob_files;
    cf.min_blob_size = kMinBlobBytes;
    cf.blob_compression_type = name == kLatentsCf ? rocksdb::kZSTD : rocksdb::kNoCompression;
    cf.enable_blob_garbage_collection = true;
    if (name == kTilePixelsCf) {
      cf.compression = rocksdb::kNoCompression;
      // The bottom level, and every file a merge builds (SstFileWriter
      // compresses as the bottom level does), may hold pixels inline: zstd's
      // fast mode still shrinks their keys and index, and gives up on JPEG
      // quickly, where its default level spent a fifth of a merge trying.
      cf.bottommost_compression_opts.enabled = true;
      cf.bottommost_compression_opts.level = kPixelTableZstdLevel;
    }
  }
  return cf;
}

std::string describe_open_failure(const fs::path& db_dir, const rocksdb::Status& s) {
  const std::string text = s.ToString();
  if (s.IsIOError() && text.find("lock") != std::string::npos) {
    return "store " + db_dir.parent_path().string() + " is in use by another process (lock " +
           (db_dir / "LOCK").string() + " is held): " + text;
  }
  return "cannot open store " + db_dir.parent_path().string() + ": " + text;
}

// Thrown by Store::open for a damaged write-ahead log; Store::repair tells it
// from every other failure.
class DamagedLogError : public Error {
 public:
  using Error::Error;
};

// Whether the store opens (read-only, changing nothing) when the replay of its
// write-ahead log stops at the damage: then the damage is in the log, and
// nowhere else.
bool opens_up_to_the_damage(rocksdb::DBOptions db_options, const fs::path& db_dir,
                            const std::vector<rocksdb::ColumnFamilyDescriptor>& descriptors) {
  db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* raw = nullptr;
  if (!rocksdb::DB::OpenForReadOnly(db_options, db_dir.string(), descriptors, &handles, &raw).ok()) return false;
  for (auto* handle : handles) raw->DestroyColumnFamilyHandle(handle);
  delete raw;
  return true;
}

std::string describe_damaged_log(const fs::path& db_dir, const rocksdb::Status& s) {
  std::vector<std::string> logs;
  for (const auto& entry : fs::directory_iterator(db_dir)) {
    if (entry.path().extension() == ".log") logs.push_back(entry.path().string());
  }
  std::sort(logs.begin(), logs.end());
  std::string names;
  for (const auto& log : logs) names += (names.empty() ? "" : ", ") + log;
  const std::string store = db_dir.parent_path().string();
  return "store " + store + " has a damaged write-ahead log (" + names + "): " + s.ToString() +
         ". Its last writes cannot all be read back, so it is not opened. `tessera repair --store " + store +
         "` recovers it to the last consistent point before the damage and reports what that drops";
}

void check(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) throw Error(what + ": " + s.ToString());
}

// A stored value that does not decode is reported with its entry: "<entry>: <reason>".
template <typename Decode, typename Bytes>
auto decode_entry(const Decode& decode, const Bytes& bytes, const std::string& entry) -> decltype(decode(bytes)) {
  try {
    return decode(bytes);
  } catch (const Error& e) {
    throw Error(entry + ": " + e.what());
  }
}

std::string tile_text(std::string_view slide_id, uint32_t row, uint32_t col) {
  return "tile (" + std::to_string(row) + ", " + std::to_string(col) + ") of slide " + std::string(slide_id);
}

}  // namespace

std::unique_ptr<Store> Store::open(const fs::path& dir, const StoreOptions& options) {
  return open(dir, options, LogReplay::kRefuseDamage);
}

std::unique_ptr<Store> Store::open(const fs::path& dir, const StoreOptions& options, LogReplay replay) {
  const fs::path db_dir = dir / "db";
  const bool exists = fs::exists(db_dir / "CURRENT");
  if (!exists) {
    if (options.read_only) throw Error("no tessera store at " + dir.string());
    if (fs::exists(dir) && !fs::is_empty(dir) && !fs::exists(db_dir)) {
      throw Error(dir.string() + " exists and is not a tessera store (no db/ inside); refusing to write there");
    }
    fs::create_directories(db_dir);
  }

  std::vector<std::string> names(std::begin(kColumnFamilies), std::end(kColumnFamilies));
  if (exists) {
    std::vector<std::string> existing;
    check(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db_dir.string(), &existing),
          "cannot read store " + dir.string());
    // A RocksDB that tessera did not create is refused before it is opened
    // for writing, which would add column families and files to it.
    if (std::find(existing.begin(), existing.end(), kMetaCf) == existing.end()) {
      throw Error(dir.string() + " holds a RocksDB database that is not a tessera store (no '" + kMetaCf +
                  "' column family)");
    }
    for (const auto& name : existing) {
      if (std::find(names.begin(), names.end(), name) == names.end()) names.push_back(name);
    }
    // A read-only open cannot create the column families that a store
    // written by an earlier tessera lacks; it opens what is there, and
    // has_cf() tells readers what is absent (and so empty).
    if (options.read_only) names = existing;
  }
  std::vector<rocksdb::ColumnFamilyDescriptor> descriptors;
  descriptors.emplace_back(rocksdb::kDefaultColumnFamilyName, rocksdb::ColumnFamilyOptions());
  for (const auto& name : names) {
    if (name != rocksdb::kDefaultColumnFamilyName) descriptors.emplace_back(name, column_family_options(name, options));
  }

  rocksdb::DBOptions db_options;
  db_options.create_if_missing = true;
  db_options.create_missing_column_families = true;
  db_options.max_background_jobs = 2;
  db_options.keep_log_file_num = 4;
  switch (replay) {
    case LogReplay::kRefuseDamage:
      // Not kAbsoluteConsistency: that refuses the torn last record a kill
      // leaves as well, and resuming after kill -9 must open the store.
      // Not RocksDB's default kPointInTimeRecovery: that stops at damage
      // anywhere without a word, and the writes after it are silently gone.
      db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kTolerateCorruptedTailRecords;
      break;
    case LogReplay::kStopAtDamage:
      db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kPointInTimeRecovery;
      break;
    case LogReplay::kSkipDamage:
      db_options.wal_recovery_mode = rocksdb::WALRecoveryMode::kSkipAnyCorruptedRecords;
      break;
  }

  auto store = std::unique_ptr<Store>(new Store());
  store->dir_ = dir;
  store->read_only_ = options.read_only;
  rocksdb::DB* raw = nullptr;
  rocksdb::Status s;
  if (options.read_only) {
    // A snapshot of the store as it is now. Not a secondary instance: BlobDB
    // does not support those (RocksDB 7.8 crashes reading a blob through one,
    // see facebook/rocksdb#13296). With every table file opened up front, a
    // writer's compactions cannot pull a file from under this reader on
    // POSIX; a blob file garbage-collected before its first read gives an
    // I/O error, never wrong data.
    db_options.max_open_files = -1;
    s = rocksdb::DB::OpenForReadOnly(db_options, db_dir.string(), descriptors, &store->handles_, &raw);
  } else {
    s = rocksdb::DB::Open(db_options, db_dir.string(), descriptors, &store->handles_, &raw);
  }
  if (!s.ok()) {
    if (replay == LogReplay::kRefuseDamage && s.IsCorruption() &&
        opens_up_to_the_damage(db_options, db_dir, descriptors)) {
      throw DamagedLogError(describe_damaged_log(db_dir, s));
    }
    throw Error(describe_open_failure(db_dir, s));
  }
  store->db_.reset(raw);
  for (const auto& d : descriptors) store->handle_names_.push_back(d.name);

  std::string version;
  const rocksdb::Status vs = store->db_->Get(rocksdb::ReadOptions(), store->cf(kMetaCf), kSchemaVersionKey, &version);
  if (vs.IsNotFound()) {
    // A store killed between its creation and this first write has no slides
    // yet, and is simply initialised now.
    std::unique_ptr<rocksdb::Iterator> any(store->db_->NewIterator(rocksdb::ReadOptions(), store->cf(kSlidesCf)));
    any->SeekToFirst();
    if (any->Valid())
      throw Error("store " + dir.string() + " has slides but no schema version; it was not written by tessera");
    if (options.read_only) throw Error("store " + dir.string() + " is not initialised yet");
    check(
        store->db_->Put(rocksdb::WriteOptions(), store->cf(kMetaCf), kSchemaVersionKey, std::to_string(kSchemaVersion)),
        "cannot initialise store " + dir.string());
  } else {
    check(vs, "cannot read the schema version of store " + dir.string());
    if (version != std::to_string(kSchemaVersion)) {
      throw Error("store " + dir.string() + " has schema version " + version + ", but this tessera reads version " +
                  std::to_string(kSchemaVersion) + "; use a tessera release that matches, or ingest into a new store");
    }
  }
  return store;
}

Store::~Store() {
  if (db_) {
    // The memtables go to table files, whose blocks carry checksums, so the
    // write-ahead log of a store closed cleanly holds nothing to lose. A
    // failed flush leaves them in the log, which the next open replays.
    if (!read_only_) db_->Flush(rocksdb::FlushOptions(), handles_).PermitUncheckedError();
    for (auto* handle : handles_) db_->DestroyColumnFamilyHandle(handle);
    db_->Close();
    db_.reset();
  }
}

rocksdb::ColumnFamilyHandle* Store::cf(const char* name) const {
  for (size_t i = 0; i < handle_names_.size(); ++i) {
    if (handle_names_[i] == name) return handles_[i];
  }
  throw Error(std::string("store ") + dir_.string() + " has no column family " + name);
}

bool Store::has_cf(const char* name) const {
  return std::find(handle_names_.begin(), handle_names_.end(), name) != handle_names_.end();
}

void Store::write(rocksdb::WriteBatch& batch, Logging logging) {
  if (read_only_) throw Error("store " + dir_.string() + " was opened read-only");
  rocksdb::WriteOptions options;
  options.disableWAL = logging == Logging::kUnlogged;
  check(db_->Write(options, &batch), "write to store " + dir_.string() + " failed");
}

std::optional<SlideRecord> Store::slide(std::string_view slide_id) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kSlidesCf), rocksdb::Slice(slide_id.data(), slide_id.size()), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read slide " + std::string(slide_id));
  return decode_entry(decode_slide_record, value, "the record of slide " + std::string(slide_id));
}

std::vector<SlideRecord> Store::slides() const {
  std::vector<SlideRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kSlidesCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    out.push_back(
        decode_entry(decode_slide_record, it->value().ToString(), "the record of slide " + it->key().ToString()));
  }
  check(it->status(), "cannot list slides of store " + dir_.string());
  return out;
}

void Store::put_slide(const SlideRecord& record) {
  check_slide_id(record.id);
  rocksdb::WriteBatch batch;
  check(batch.Put(cf(kSlidesCf), record.id, encode_slide_record(record)), "batch");
  write(batch);
}

void Store::reset_slide(const SlideRecord& pending) {
  check_slide_id(pending.id);
  const std::string begin = slide_range_begin(pending.id);
  const std::string end = slide_range_end(pending.id);
  rocksdb::WriteBatch batch;
  check(batch.DeleteRange(cf(kTilesCf), begin, end), "batch");
  check(batch.DeleteRange(cf(kTilePixelsCf), begin, end), "batch");
  // The slide's latents of every model go with its tiles: they described
  // tiles that are about to be redone.
  for (const auto& m : models()) {
    const std::string prefix = encode_model_prefix(m.id);
    check(batch.DeleteRange(cf(kLatentsCf), prefix + begin, prefix + end), "batch");
    check(batch.DeleteRange(cf(kLatentIndexCf), prefix + begin, prefix + end), "batch");
  }
  check(batch.Put(cf(kSlidesCf), pending.id, encode_slide_record(pending)), "batch");
  write(batch);
}

SlideWriter Store::slide_writer(std::string_view slide_id, size_t max_batch_bytes) {
  check_slide_id(slide_id);
  return SlideWriter(*this, std::string(slide_id), max_batch_bytes);
}

void Store::for_each_tile(std::string_view slide_id,
                          const std::function<void(const TileKey&, const TileRecord&)>& visit) const {
  const std::string begin = slide_range_begin(slide_id);
  const std::string end = slide_range_end(slide_id);
  rocksdb::ReadOptions read;
  rocksdb::Slice upper(end);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf(kTilesCf)));
  for (it->Seek(begin); it->Valid(); it->Next()) {
    const auto tile =
        decode_entry(decode_tile_key, it->key().ToStringView(), "a tile key of slide " + std::string(slide_id));
    visit(tile, decode_entry(decode_tile_record, it->value().ToStringView(), tile_text(slide_id, tile.row, tile.col)));
  }
  check(it->status(), "cannot read tiles of slide " + std::string(slide_id));
}

uint64_t Store::count_tiles(std::string_view slide_id) const {
  uint64_t n = 0;
  for_each_tile(slide_id, [&](const TileKey&, const TileRecord&) { ++n; });
  return n;
}

std::optional<std::string> Store::tile_pixels(std::string_view slide_id, uint32_t row, uint32_t col) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kTilePixelsCf), encode_tile_key(slide_id, row, col), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read pixels of a tile of slide " + std::string(slide_id));
  return value;
}

std::optional<PromptRecord> Store::prompt(std::string_view prompt_id) const {
  // The record's key, then its sources under "id/": one contiguous range.
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kPromptsCf)));
  std::optional<PromptRecord> record;
  const std::string source_prefix = std::string(prompt_id) + "/";
  for (it->Seek(rocksdb::Slice(prompt_id.data(), prompt_id.size())); it->Valid(); it->Next()) {
    const auto key = it->key().ToStringView();
    if (key == prompt_id) {
      record = decode_entry(decode_prompt_record, it->value().ToString(), "prompt " + std::string(prompt_id));
    } else if (key.substr(0, source_prefix.size()) == source_prefix && record) {
      record->sources.push_back(
          decode_entry(decode_prompt_source, it->value().ToString(), "prompt source " + std::string(key)));
    } else {
      break;
    }
  }
  check(it->status(), "cannot read prompt " + std::string(prompt_id));
  return record;
}

std::vector<PromptRecord> Store::prompts() const {
  std::vector<PromptRecord> out;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kPromptsCf)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) {
    const auto key = it->key().ToStringView();
    if (key.find('/') == std::string_view::npos) {
      out.push_back(decode_entry(decode_prompt_record, it->value().ToString(), "prompt " + std::string(key)));
    } else if (!out.empty() && key.substr(0, out.back().id.size()) == out.back().id) {
      out.back().sources.push_back(
          decode_entry(decode_prompt_source, it->value().ToString(), "prompt source " + std::string(key)));
    }
  }
  check(it->status(), "cannot list prompts of store " + dir_.string());
  return out;
}

std::optional<VocabularyRecord> Store::vocabulary() const {
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kMetaCf), kVocabularyKey, &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read the vocabulary record of store " + dir_.string());
  return decode_entry(decode_vocabulary_record, value, "the vocabulary record of store " + dir_.string());
}

void Store::put_vocabulary(const VocabularyRecord& record) {
  rocksdb::WriteBatch batch;
  check(batch.Put(cf(kMetaCf), kVocabularyKey, encode_vocabulary_record(record)), "batch");
  write(batch);
}

void Store::put_model(const ModelRecord& record) {
  encode_model_prefix(record.id);  // validates the id
  rocksdb::WriteBatch batch;
  check(batch.Put(cf(kMetaCf), kModelKeyPrefix + record.id, encode_model_record(record)), "batch");
  write(batch);
}

void Store::ensure_model(const ModelRecord& record) {
  if (!model(record.id)) put_model(record);
}

std::optional<ModelRecord> Store::model(std::string_view model_id) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kMetaCf), kModelKeyPrefix + std::string(model_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read model " + std::string(model_id));
  return decode_entry(decode_model_record, value, "the record of model " + std::string(model_id));
}

std::vector<ModelRecord> Store::models() const {
  std::vector<ModelRecord> out;
  const std::string prefix = kModelKeyPrefix;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kMetaCf)));
  for (it->Seek(prefix); it->Valid() && it->key().starts_with(prefix); it->Next()) {
    out.push_back(decode_entry(decode_model_record, it->value().ToString(),
                               "the record of model " + it->key().ToString().substr(prefix.size())));
  }
  check(it->status(), "cannot list the models of store " + dir_.string());
  return out;
}

uint64_t Store::count_keys(const char* cf_name, const std::string& begin, const std::string& end) const {
  if (!has_cf(cf_name)) return 0;
  rocksdb::ReadOptions read;
  rocksdb::Slice upper(end);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf(cf_name)));
  uint64_t n = 0;
  for (it->Seek(begin); it->Valid(); it->Next()) ++n;
  check(it->status(), std::string("cannot scan ") + cf_name + " of store " + dir_.string());
  return n;
}

std::vector<TileKey> Store::tiles_without_latents(std::string_view model_id, std::string_view slide_id) const {
  return tiles_without_latents(model_id, slide_id, *this);
}

std::vector<TileKey> Store::tiles_without_latents(std::string_view model_id, std::string_view slide_id,
                                                  const Store& latent_store) const {
  const std::string prefix = encode_model_prefix(model_id);
  const std::string begin = slide_range_begin(slide_id);
  const std::string end = slide_range_end(slide_id);
  // Both ranges are in tile-key order: one merge pass over the two.
  rocksdb::ReadOptions tiles_read;
  rocksdb::Slice tiles_upper(end);
  tiles_read.iterate_upper_bound = &tiles_upper;
  std::unique_ptr<rocksdb::Iterator> tiles(db_->NewIterator(tiles_read, cf(kTilesCf)));
  std::unique_ptr<rocksdb::Iterator> index;
  const std::string index_end = prefix + end;
  rocksdb::ReadOptions index_read;
  rocksdb::Slice index_upper(index_end);
  index_read.iterate_upper_bound = &index_upper;
  if (latent_store.has_cf(kLatentIndexCf)) {
    index.reset(latent_store.db_->NewIterator(index_read, latent_store.cf(kLatentIndexCf)));
    index->Seek(prefix + begin);
  }
  std::vector<TileKey> missing;
  for (tiles->Seek(begin); tiles->Valid(); tiles->Next()) {
    const auto key = tiles->key().ToStringView();
    while (index && index->Valid() && index->key().ToStringView().substr(prefix.size()) < key) index->Next();
    if (index && index->Valid() && index->key().ToStringView().substr(prefix.size()) == key) continue;
    missing.push_back(decode_entry(decode_tile_key, key, "a tile key of slide " + std::string(slide_id)));
  }
  check(tiles->status(), "cannot read tiles of slide " + std::string(slide_id));
  if (index) check(index->status(), "cannot read the latent index of slide " + std::string(slide_id));
  return missing;
}

uint64_t Store::count_latents(std::string_view model_id) const {
  const std::string prefix = encode_model_prefix(model_id);
  return count_keys(kLatentIndexCf, prefix, model_range_end(prefix));
}

uint64_t Store::count_latents(std::string_view model_id, std::string_view slide_id) const {
  const std::string prefix = encode_model_prefix(model_id);
  return count_keys(kLatentIndexCf, prefix + slide_range_begin(slide_id), prefix + slide_range_end(slide_id));
}

std::optional<TensorRecord> Store::latent(std::string_view model_id, std::string_view slide_id, uint32_t row,
                                          uint32_t col) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kLatentsCf), encode_latent_key(model_id, slide_id, row, col), &value);
  if (s.IsNotFound()) return std::nullopt;
  check(s, "cannot read the latent of model " + std::string(model_id) + " for " + tile_text(slide_id, row, col));
  return decode_entry(decode_tensor_record, value,
                      "the latent of model " + std::string(model_id) + " for " + tile_text(slide_id, row, col));
}

void Store::for_each_latent(std::string_view model_id, std::string_view slide_id,
                            const std::function<void(const TileKey&, const TensorRecord&)>& visit) const {
  const std::string prefix = encode_model_prefix(model_id);
  const std::string end = prefix + slide_range_end(slide_id);
  rocksdb::ReadOptions read;
  rocksdb::Slice upper(end);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf(kLatentsCf)));
  for (it->Seek(prefix + slide_range_begin(slide_id)); it->Valid(); it->Next()) {
    const auto tile = decode_entry(decode_tile_key, it->key().ToStringView().substr(prefix.size()),
                                   "a latent key of model " + std::string(model_id));
    visit(tile, decode_entry(decode_tensor_record, it->value().ToStringView(),
                             "the latent of model " + std::string(model_id) + " for " +
                                 tile_text(slide_id, tile.row, tile.col)));
  }
  check(it->status(), "cannot read latents of slide " + std::string(slide_id));
}

void Store::put_latents(std::string_view model_id, const std::vector<std::pair<TileKey, TensorRecord>>& latents) {
  rocksdb::WriteBatch batch;
  for (const auto& [tile, record] : latents) {
    const std::string key = encode_latent_key(model_id, tile.slide_id, tile.row, tile.col);
    check(batch.Put(cf(kLatentsCf), key, encode_tensor_record(record)), "batch");
    check(batch.Put(cf(kLatentIndexCf), key, rocksdb::Slice()), "batch");
  }
  write(batch);
}

std::optional<TensorRecord> Store::embedding(std::string_view model_id, std::string_view prompt_id) const {
  std::string value;
  const rocksdb::Status s =
      db_->Get(rocksdb::ReadOptions(), cf(kEmbeddingsCf), encode_embedding_key(model_id, prompt_id), &value);
  if (s.IsNotFound()) return std::nullopt;
  const std::string what = "the embedding of prompt " + std::string(prompt_id) + " by model " + std::string(model_id);
  check(s, "cannot read " + what);
  return decode_entry(decode_tensor_record, value, what);
}

std::vector<std::string> Store::embedded_prompt_ids(std::string_view model_id) const {
  const std::string prefix = encode_model_prefix(model_id);
  const std::string end = model_range_end(prefix);
  rocksdb::ReadOptions read;
  rocksdb::Slice upper(end);
  read.iterate_upper_bound = &upper;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(read, cf(kEmbeddingsCf)));
  std::vector<std::string> ids;
  for (it->Seek(prefix); it->Valid(); it->Next()) ids.push_back(it->key().ToString().substr(prefix.size()));
  check(it->status(), "cannot list embeddings of store " + dir_.string());
  return ids;
}

void Store::put_embeddings(std::string_view model_id,
                           const std::vector<std::pair<std::string, TensorRecord>>& embeddings) {
  rocksdb::WriteBatch batch;
  for (const auto& [prompt_id, record] : embeddings) {
    check(batch.Put(cf(kEmbeddingsCf), encode_embedding_key(model_id, prompt_id), encode_tensor_record(record)),
          "batch");
  }
  write(batch);
}

std::optional<TensorRecord> Store::features(std::string_view extractor_id, const TileKey& tile) const {
  const std::string key = encode_latent_key(extractor_id, tile.slide_id, tile.row, tile.col);
  if (!has_cf(kFeaturesCf)) return std::nullopt;
  std::string value;
  const rocksdb::Status s = db_->Get(rocksdb::ReadOptions(), cf(kFeaturesCf), key, &value);
  if (s.IsNotFound()) return std::nullopt;
  const std::string what =
      "the features of extractor " + std::string(extractor_id) + " for " + tile_text(tile.slide_id, tile.row, tile.col);
  check(s, "cannot read " + what);
  return decode_entry(decode_tensor_record, value, what);
}

uint64_t Store::count_features(std::string_view extractor_id) const {
  const std::string prefix = encode_model_prefix(extractor_id);
  return count_keys(kFeaturesCf, prefix, model_range_end(prefix));
}

void Store::put_features(std::string_view extractor_id, const std::vector<std::pair<TileKey, TensorRecord>>& features) {
  rocksdb::WriteBatch batch;
  for (const auto& [tile, record] : features) {
    check(batch.Put(cf(kFeaturesCf), encode_latent_key(extractor_id, tile.slide_id, tile.row, tile.col),
                    encode_tensor_record(record)),
          "batch");
  }
  write(batch);
}

Store::GcResult Store::gc(const std::vector<std::string>& keep) {
  for (const auto& id : keep) encode_model_prefix(id);  // validates
  GcResult result;
  rocksdb::WriteBatch batch;
  for (const auto& m : models()) {
    if (std::find(keep.begin(), keep.end(), m.id) != keep.end()) continue;
    const std::string prefix = encode_model_prefix(m.id);
    const std::string end = model_range_end(prefix);
    result.latents_removed += count_keys(kLatentIndexCf, prefix, end);
    result.embeddings_removed += count_keys(kEmbeddingsCf, prefix, end);
    result.features_removed += count_keys(kFeaturesCf, prefix, end);
    check(batch.DeleteRange(cf(kLatentsCf), prefix, end), "batch");
    check(batch.DeleteRange(cf(kFeaturesCf), prefix, end), "batch");
    check(batch.DeleteRange(cf(kLatentIndexCf), prefix, end), "batch");
    check(batch.DeleteRange(cf(kEmbeddingsCf), prefix, end), "batch");
    check(batch.Delete(cf(kMetaCf), kModelKeyPrefix + m.id), "batch");
    result.removed_models.push_back(m.id);
  }

  // Prompts no stored tile refers to, with their sources and embeddings.
  std::set<std::string> referenced;
  {
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(kTilesCf)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) {
      const auto tile = decode_entry(decode_tile_key, it->key().ToStringView(), "a tile key of store " + dir_.string());
      const auto record =
          decode_entry(decode_tile_record, it->value().ToStringView(), tile_text(tile.slide_id, tile.row, tile.col));
      if (!record.prompt_id.empty()) referenced.insert(record.prompt_id);
    }
    check(it->status(), "cannot scan the tiles of store " + dir_.string());
  }
  std::vector<std::string> kept_models;
  for (const auto& m : models()) {
    if (std::find(result.removed_models.begin(), result.removed_models.end(), m.id) == result.removed_models.end()) {
      kept_models.push_back(m.id);
    }
  }
  for (const auto& prompt : prompts()) {
    if (referenced.count(prompt.id)) continue;
    check(batch.DeleteRange(cf(kPromptsCf), prompt.id, prompt.id + "0"),
          "batch");  // the record and its "id/case" sources
    for (const auto& id : kept_models) {
      if (embedding(id, prompt.id)) ++result.embeddings_removed;
      check(batch.Delete(cf(kEmbeddingsCf), encode_embedding_key(id, prompt.id)), "batch");
    }
    ++result.prompts_removed;
  }
  write(batch);

  // Range deletes only hide the keys: compaction drops them, and forced blob
  // garbage collection rewrites the blob files that held the removed values.
  rocksdb::CompactRangeOptions compact;
  compact.bottommost_level_compaction = rocksdb::BottommostLevelCompaction::kForce;
  compact.blob_garbage_collection_policy = rocksdb::BlobGarbageCollectionPolicy::kForce;
  compact.blob_garbage_collection_age_cutoff = 1.0;
  for (const char* name : {kLatentsCf, kLatentIndexCf, kEmbeddingsCf, kFeaturesCf, kPromptsCf}) {
    check(db_->CompactRange(compact, cf(name), nullptr, nullptr), std::string("compaction of ") + name + " failed");
  }
  return result;
}

StoreCounts Store::counts() const {
  StoreCounts c;
  for (const auto& slide : slides()) {
    ++c.slides;
    c.complete_slides += slide.status == SlideStatus::kComplete;
  }
  const auto all_keys = [&](const char* name) {
    uint64_t n = 0;
    if (!has_cf(name)) return n;
    std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(name)));
    for (it->SeekToFirst(); it->Valid(); it->Next()) ++n;
    check(it->status(), std::string("cannot scan ") + name + " of store " + dir_.string());
    return n;
  };
  c.tiles = all_keys(kTilesCf);
  c.latents = all_keys(kLatentIndexCf);
  c.embeddings = all_keys(kEmbeddingsCf);
  c.features = all_keys(kFeaturesCf);
  c.prompts = prompts().size();
  return c;
}

void Store::for_each_entry(const char* column_family,
                           const std::function<void(std::string_view key, std::string_view value)>& visit) const {
  if (std::find(std::begin(kColumnFamilies), std::end(kColumnFamilies), std::string_view(column_family)) ==
      std::end(kColumnFamilies)) {
    throw Error(std::string("a tessera store has no column family ") + column_family);
  }
  if (!has_cf(column_family)) return;
  std::unique_ptr<rocksdb::Iterator> it(db_->NewIterator(rocksdb::ReadOptions(), cf(column_family)));
  for (it->SeekToFirst(); it->Valid(); it->Next()) visit(it->key().ToStringView(), it->value().ToStringView());
  check(it->status(), std::string("cannot scan ") + column_family + " of store " + dir_.string());
}

RepairResult Store::repair(const fs::path& dir) {
  if (!fs::exists(dir / "db" / "CURRENT")) throw Error("no tessera store at " + dir.string());
  RepairResult result;
  try {
    const auto whole = open(dir, StoreOptions(), LogReplay::kRefuseDamage);
    result.before = result.after = whole->counts();
    return result;
  } catch (const DamagedLogError&) {
    result.log_damaged = true;
  }
  std::map<std::string, std::string> status_before;
  try {
    StoreOptions view;
    view.read_only = true;
    const auto skipped = open(dir, view, LogReplay::kSkipDamage);
    result.before = skipped->counts();
    for (const auto& slide : skipped->slides()) status_before[slide.id] = to_string(slide.status);
  } catch (const Error&) {
    // Skipping the damaged records can leave pieces of writes that RocksDB
    // cannot apply ("Write batch content corrupted"): the view is best effort.
  }
  // A writable open at the last consistent point: RocksDB writes what it
  // replayed to table files and starts a new log, so that the store opens
  // normally from now on.
  const auto repaired = open(dir, StoreOptions(), LogReplay::kStopAtDamage);
  repaired->flush();
  result.after = repaired->counts();
  std::map<std::string, std::string> status_after;
  for (const auto& slide : repaired->slides()) status_after[slide.id] = to_string(slide.status);
  if (!result.before) return result;
  const std::string absent = "absent";
  for (const auto& [id, before] : status_before) {
    const auto after = status_after.find(id);
    const std::string now = after == status_after.end() ? absent : after->second;
    if (now != before) result.slides_rolled_back.push_back({id, before, now});
  }
  for (const auto& [id, after] : status_after) {
    if (!status_before.count(id)) result.slides_rolled_back.push_back({id, absent, after});
  }
  std::sort(result.slides_rolled_back.begin(), result.slides_rolled_back.end(),
            [](const SlideRollback& a, const SlideRollback& b) { return a.id < b.id; });
  return result;
}

void Store::flush() {
  if (read_only_) return;
  check(db_->Flush(rocksdb::FlushOptions(), handles_), "flush of store " + dir_.string() + " failed");
}

SlideWriter::SlideWriter(Store& store, std::string slide_id, size_t max_batch_bytes)
    : store_(&store),
      slide_id_(std::move(slide_id)),
      max_batch_bytes_(max_batch_bytes),
      batch_(std::make_unique<rocksdb::WriteBatch>()) {}

SlideWriter::SlideWriter(SlideWriter&&) noexcept = default;
SlideWriter::~SlideWriter() = default;

void SlideWriter::add(uint32_t row, uint32_t col, const TileRecord& record, std::string_view pixels) {
  const std::string key = encode_tile_key(slide_id_, row, col);
  check(batch_->Put(store_->cf(kTilesCf), key, encode_tile_record(record)), "batch");
  check(batch_->Put(store_->cf(kTilePixelsCf), key, rocksdb::Slice(pixels.data(), pixels.size())), "batch");
  ++tiles_written_;
  if (batch_->GetDataSize() >= max_batch_bytes_) flush();
}

void SlideWriter::add_prompt(const PromptRecord& prompt) {
  check(batch_->Put(store_->cf(kPromptsCf), prompt.id, encode_prompt_record(prompt)), "batch");
  for (const auto& source : prompt.sources) {
    check(
        batch_->Put(store_->cf(kPromptsCf), prompt_source_key(prompt.id, source.case_id), encode_prompt_source(source)),
        "batch");
  }
}

void SlideWriter::add_latent(std::string_view model_id, uint32_t row, uint32_t col, const TensorRecord& latent) {
  const std::string key = encode_latent_key(model_id, slide_id_, row, col);
  check(batch_->Put(store_->cf(kLatentsCf), key, encode_tensor_record(latent)), "batch");
  check(batch_->Put(store_->cf(kLatentIndexCf), key, rocksdb::Slice()), "batch");
  if (batch_->GetDataSize() >= max_batch_bytes_) flush();
}

void SlideWriter::flush() {
  if (batch_->Count() == 0) return;
  store_->write(*batch_, Store::Logging::kUnlogged);
  batch_->Clear();
}

void SlideWriter::commit(const SlideRecord& final_record) {
  if (final_record.id != slide_id_)
    throw Error("slide writer for " + slide_id_ + " got the record of " + final_record.id);
  flush();
  store_->flush();
  rocksdb::WriteBatch record;
  check(record.Put(store_->cf(kSlidesCf), final_record.id, encode_slide_record(final_record)), "batch");
  store_->write(record);
}

}  // namespace tessera::store
