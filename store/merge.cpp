// Store::merge: shard stores into one, as RocksDB table files built with
// SstFileWriter and ingested with IngestExternalFiles, atomically across
// column families. Everything is checked before a file is built.
//
// An entry belongs to a unit that is merged, or found present, as a whole:
//   slides, tiles, tile_pixels: its slide;
//   latents, latent_index:      (first-stage model, slide);
//   features:                   (feature extractor, slide);
//   prompts, embeddings:        the entry itself (two cases' slides in two
//                               shards may reach one prompt);
//   meta:                       model records and the vocabulary, compared
//                               as records.
// A unit in two shards must be byte-identical in both; one the target has
// already is skipped when identical and refused otherwise.

#include <rocksdb/db.h>
#include <rocksdb/metadata.h>
#include <rocksdb/options.h>
#include <rocksdb/sst_file_writer.h>
#include <sys/stat.h>

#include <algorithm>
#include <atomic>
#include <exception>
#include <map>
#include <memory>
#include <mutex>
#include <optional>
#include <queue>
#include <set>
#include <thread>
#include <tuple>

#include "base/crash_point.h"
#include "base/error.h"
#include "meta_keys.h"
#include "store/store.h"

namespace tessera::store {
namespace fs = std::filesystem;

namespace {

constexpr size_t kModelPrefixBytes = 16;
// Where the files are built, inside the target so that they can be linked.
constexpr const char* kStagingFolder = "merge-staging";
constexpr size_t kReadaheadBytes = size_t{4} << 20;
// How often the progress callback hears of the bytes read.
constexpr uint64_t kProgressEveryBytes = uint64_t{8} << 20;

void check(const rocksdb::Status& s, const std::string& what) {
  if (!s.ok()) throw Error(what + ": " + s.ToString());
}

enum class Unit : char { kSlide = 's', kLatents = 'l', kFeatures = 'f', kEntry = 'e' };

Unit unit_of(std::string_view cf) {
  if (cf == kSlidesCf || cf == kTilesCf || cf == kTilePixelsCf) return Unit::kSlide;
  if (cf == kLatentsCf || cf == kLatentIndexCf) return Unit::kLatents;
  if (cf == kFeaturesCf) return Unit::kFeatures;
  return Unit::kEntry;
}

std::string slide_of_tile_key(std::string_view key) { return std::string(key.substr(0, key.find('\0'))); }

// The unit of an entry, as one string: its kind, then the slide id, model
// prefix + slide id, or column family + key.
std::string unit_key(std::string_view cf, std::string_view key) {
  const Unit unit = unit_of(cf);
  std::string out(1, char(unit));
  switch (unit) {
    case Unit::kSlide:
      out += cf == kSlidesCf ? std::string(key) : slide_of_tile_key(key);
      break;
    case Unit::kLatents:
    case Unit::kFeatures:
      out += key.substr(0, kModelPrefixBytes);
      out += slide_of_tile_key(key.substr(kModelPrefixBytes));
      break;
    case Unit::kEntry:
      out += std::string(cf) + '\0' + std::string(key);
      break;
  }
  return out;
}

// A unit, as the error messages name it.
std::string describe_unit(const std::string& unit) {
  const std::string_view rest = std::string_view(unit).substr(1);
  switch (Unit(unit[0])) {
    case Unit::kSlide:
      return "slide " + std::string(rest);
    case Unit::kLatents:
      return "the latents of model " + decode_model_prefix(rest.substr(0, kModelPrefixBytes)) + " for slide " +
             std::string(rest.substr(kModelPrefixBytes));
    case Unit::kFeatures:
      return "the features of extractor " + decode_model_prefix(rest.substr(0, kModelPrefixBytes)) + " for slide " +
             std::string(rest.substr(kModelPrefixBytes));
    case Unit::kEntry: {
      const size_t nul = rest.find('\0');
      const std::string_view cf = rest.substr(0, nul);
      const std::string_view key = rest.substr(nul + 1);
      if (cf == kPromptsCf) {
        const size_t slash = key.find('/');
        return slash == std::string_view::npos ? "prompt " + std::string(key) + " (its text or tokens)"
                                               : "the source of prompt " + std::string(key.substr(0, slash)) +
                                                     " from case '" + std::string(key.substr(slash + 1)) + "'";
      }
      if (cf == kEmbeddingsCf && key.size() > kModelPrefixBytes) {
        return "the embedding of prompt " + std::string(key.substr(kModelPrefixBytes)) + " by model " +
               decode_model_prefix(key.substr(0, kModelPrefixBytes));
      }
      return "entry of column family " + std::string(cf);
    }
  }
  return unit;
}

// A model's identity: every field but where the files were found and when it
// was registered, which differ between the tasks of one job array.
bool same_model(ModelRecord a, ModelRecord b) {
  for (auto* r : {&a, &b}) {
    r->registered_at.clear();
    r->weights_path.clear();
    r->config_path = r->architecture == "torchscript" ? r->config_path : "";
  }
  return encode_model_record(a) == encode_model_record(b);
}

// A vocabulary's identity: its merges, not where it was read from.
bool same_vocabulary(VocabularyRecord a, VocabularyRecord b) {
  a.path.clear();
  b.path.clear();
  return encode_vocabulary_record(a) == encode_vocabulary_record(b);
}

uint64_t bytes_on_disk(const fs::path& store_dir) {
  uint64_t total = 0;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(store_dir / "db", error)) {
    const auto ext = entry.path().extension();
    if (ext == ".sst" || ext == ".blob") total += entry.file_size(error);
  }
  return total;
}

ino_t inode_of(const fs::path& path) {
  struct stat st {};
  return ::stat(path.c_str(), &st) == 0 ? st.st_ino : 0;
}

}  // namespace

// Store::merge's state; a friend of Store, so it reads the stores' column
// families directly.
class ShardMerge {
 public:
  ShardMerge(Store& target, const std::vector<fs::path>& shards, const MergeOptions& options)
      : target_(target), options_(options) {
    std::set<fs::path> seen;
    const fs::path target_path = fs::weakly_canonical(target.dir());
    for (const auto& path : shards) {
      const fs::path canonical = fs::weakly_canonical(path);
      if (canonical == target_path) throw Error("shard " + path.string() + " is the store merged into");
      if (!seen.insert(canonical).second) throw Error("shard " + path.string() + " is given twice");
      StoreOptions read_only;
      read_only.read_only = true;
      sources_.push_back(Store::open(path, read_only));
      result_.shards.push_back(path.string());
    }
  }

  MergeResult run() {
    plan_models_and_vocabulary();
    for (size_t i = 0; i < sources_.size(); ++i) plan_units(i);
    check_against_target();
    check_references();
    build_and_ingest();
    return result_;
  }

 private:
  const std::string& name(size_t source) const { return result_.shards[source]; }

  rocksdb::Iterator* iterator(const Store& store, const char* cf, const rocksdb::ReadOptions& read = {}) const {
    return store.db_->NewIterator(read, store.cf(cf));
  }

  // Models: the target's, plus every shard's; one id must be one model.
  void plan_models_and_vocabulary() {
    std::map<std::string, std::pair<ModelRecord, std::string>> known;  // id -> record, where it is from
    for (const auto& m : target_.models()) known.emplace(m.id, std::make_pair(m, target_.dir().string()));
    std::optional<std::pair<VocabularyRecord, std::string>> vocabulary;
    if (auto v = target_.vocabulary()) vocabulary.emplace(*v, target_.dir().string());
    const bool target_has_vocabulary = vocabulary.has_value();
    for (size_t i = 0; i < sources_.size(); ++i) {
      for (const auto& m : sources_[i]->models()) {
        const auto [it, inserted] = known.emplace(m.id, std::make_pair(m, name(i)));
        if (inserted) {
          models_to_add_[m.id] = m;
        } else if (!same_model(it->second.first, m)) {
          throw Error("model " + m.id + " has one record in " + it->second.second + " (" +
                      encode_model_record(it->second.first) + ") and another in " + name(i) + " (" +
                      encode_model_record(m) + "); nothing was merged");
        }
      }
      if (const auto v = sources_[i]->vocabulary()) {
        if (!vocabulary) {
          vocabulary.emplace(*v, name(i));
        } else if (!same_vocabulary(vocabulary->first, *v)) {
          throw Error("the prompts of " + vocabulary->second + " are tokenised with vocabulary " +
                      describe(vocabulary->first) + ", those of " + name(i) + " with " + describe(*v) +
                      "; a store holds prompts of one vocabulary. Nothing was merged");
        }
      }
    }
    for (const auto& [id, entry] : known) model_ids_.insert(id);
    if (vocabulary && !target_has_vocabulary) vocabulary_to_add_ = vocabulary->first;
  }

  // The units of one shard; a unit another shard has too must be identical.
  void plan_units(size_t source) {
    const Store& store = *sources_[source];
    for (const auto& slide : store.slides()) {
      if (slide.status == SlideStatus::kPending) {
        throw Error("slide " + slide.id + " of shard " + name(source) +
                    " is pending: that shard's ingest is still running or was stopped. Finish it (rerun the same "
                    "command) before merging; nothing was merged");
      }
    }
    for (const char* cf : {kSlidesCf, kLatentIndexCf, kFeaturesCf, kPromptsCf, kEmbeddingsCf}) {
      if (!store.has_cf(cf)) continue;
      std::string last;
      std::unique_ptr<rocksdb::Iterator> it(iterator(store, cf));
      for (it->SeekToFirst(); it->Valid(); it->Next()) {
        std::string unit = unit_key(cf, it->key().ToStringView());
        if (unit == last) continue;
        last = unit;
        const auto [found, inserted] = chosen_.emplace(unit, source);
        if (!inserted && !same_unit(*sources_[found->second], store, unit)) {
          throw Error(describe_unit(unit) + " is in shard " + name(found->second) + " and in shard " + name(source) +
                      ", and they differ; " +
                      (Unit(unit[0]) == Unit::kEntry
                           ? "one id must mean one value (were the shards made with other reports, templates or "
                             "models?)"
                           : "a slide belongs to one shard (was it ingested twice, with other settings?)") +
                      ". Nothing was merged");
        }
      }
      check(it->status(), std::string("cannot scan ") + cf + " of shard " + name(source));
    }
  }

  // What the target holds already: skipped when identical, refused otherwise.
  void check_against_target() {
    for (auto it = chosen_.begin(); it != chosen_.end();) {
      const std::string& unit = it->first;
      if (!present_in(target_, unit)) {
        ++it;
        continue;
      }
      if (!same_unit(target_, *sources_[it->second], unit)) {
        throw Error(describe_unit(unit) + " is in " + target_.dir().string() + " already, and shard " +
                    name(it->second) + " holds a different one; nothing was merged");
      }
      if (Unit(unit[0]) == Unit::kSlide) ++result_.slides_present;
      if (Unit(unit[0]) == Unit::kLatents) result_.latents_present += entries_in(target_, unit, kLatentIndexCf);
      it = chosen_.erase(it);
    }
  }

  // Latents and features describe tiles: their slide must be in the merged
  // store, and their model registered.
  void check_references() {
    std::set<std::string> slides;
    for (const auto& s : target_.slides()) slides.insert(s.id);
    for (const auto& source : sources_) {
      for (const auto& s : source->slides()) slides.insert(s.id);
    }
    for (const auto& [unit, source] : chosen_) {
      const Unit kind = Unit(unit[0]);
      if (kind != Unit::kLatents && kind != Unit::kFeatures) continue;
      const std::string model = decode_model_prefix(std::string_view(unit).substr(1, kModelPrefixBytes));
      const std::string slide = unit.substr(1 + kModelPrefixBytes);
      if (!slides.count(slide)) {
        throw Error("shard " + name(source) + " holds " + describe_unit(unit) + ", but neither " +
                    target_.dir().string() +
                    " nor any shard has that slide; merge the store whose tiles they encode "
                    "too. Nothing was merged");
      }
      if (!model_ids_.count(model)) {
        throw Error("shard " + name(source) + " holds " + describe_unit(unit) +
                    " without the model's record; nothing was merged");
      }
    }
  }

  // [begin, end) of a unit's keys in one column family.
  static std::pair<std::string, std::string> range_of(const std::string& unit, const char* cf) {
    const std::string_view rest = std::string_view(unit).substr(1);
    switch (Unit(unit[0])) {
      case Unit::kSlide:
        if (std::string_view(cf) == kSlidesCf) return {std::string(rest), std::string(rest) + '\0'};
        return {slide_range_begin(rest), slide_range_end(rest)};
      case Unit::kLatents:
      case Unit::kFeatures: {
        const std::string prefix(rest.substr(0, kModelPrefixBytes));
        const std::string_view slide = rest.substr(kModelPrefixBytes);
        return {prefix + slide_range_begin(slide), prefix + slide_range_end(slide)};
      }
      case Unit::kEntry: {
        const std::string key(rest.substr(rest.find('\0') + 1));
        return {key, key + '\0'};
      }
    }
    return {};
  }

  static std::vector<const char*> column_families_of(const std::string& unit) {
    switch (Unit(unit[0])) {
      case Unit::kSlide:
        return {kSlidesCf, kTilesCf, kTilePixelsCf};
      case Unit::kLatents:
        return {kLatentIndexCf, kLatentsCf};  // the key-only index first: presence reads no blob
      case Unit::kFeatures:
        return {kFeaturesCf};
      case Unit::kEntry: {
        const std::string cf = unit.substr(1, unit.find('\0') - 1);
        return {cf == kPromptsCf ? kPromptsCf : kEmbeddingsCf};
      }
    }
    return {};
  }

  uint64_t entries_in(const Store& store, const std::string& unit, const char* cf) const {
    if (!store.has_cf(cf)) return 0;
    const auto [begin, end] = range_of(unit, cf);
    rocksdb::ReadOptions read;
    rocksdb::Slice upper(end);
    read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(iterator(store, cf, read));
    uint64_t n = 0;
    for (it->Seek(begin); it->Valid(); it->Next()) ++n;
    check(it->status(), std::string("cannot scan ") + cf + " of " + store.dir().string());
    return n;
  }

  bool present_in(const Store& store, const std::string& unit) const {
    const char* cf = column_families_of(unit).front();
    if (!store.has_cf(cf)) return false;
    const auto [begin, end] = range_of(unit, cf);
    rocksdb::ReadOptions read;
    rocksdb::Slice upper(end);
    read.iterate_upper_bound = &upper;
    std::unique_ptr<rocksdb::Iterator> it(iterator(store, cf, read));
    it->Seek(begin);
    check(it->status(), std::string("cannot read ") + cf + " of " + store.dir().string());
    return it->Valid();
  }

  // Whether two stores hold the same keys and bytes for a unit.
  bool same_unit(const Store& a, const Store& b, const std::string& unit) const {
    for (const char* cf : column_families_of(unit)) {
      if (!a.has_cf(cf) || !b.has_cf(cf)) {
        // A store made before the column family existed holds none of it.
        if (entries_in(a, unit, cf) != entries_in(b, unit, cf)) return false;
        continue;
      }
      const auto [begin, end] = range_of(unit, cf);
      rocksdb::ReadOptions read;
      rocksdb::Slice upper(end);
      read.iterate_upper_bound = &upper;
      std::unique_ptr<rocksdb::Iterator> x(iterator(a, cf, read));
      std::unique_ptr<rocksdb::Iterator> y(iterator(b, cf, read));
      x->Seek(begin);
      y->Seek(begin);
      for (; x->Valid() && y->Valid(); x->Next(), y->Next()) {
        if (x->key() != y->key() || x->value() != y->value()) return false;
      }
      check(x->status(), std::string("cannot scan ") + cf + " of " + a.dir().string());
      check(y->status(), std::string("cannot scan ") + cf + " of " + b.dir().string());
      if (x->Valid() != y->Valid()) return false;
    }
    return true;
  }

  // What one file added.
  struct Added {
    uint64_t entries = 0, bytes_read = 0, slides = 0, tiles = 0, latents = 0, features = 0, prompts = 0, embeddings = 0;
  };

  // One file's worth of a column family: the new entries in [lower, upper)
  // (upper empty: to the end).
  struct Part {
    const char* cf;
    std::string lower, upper;
    fs::path file;
    std::optional<Added> added;  // set once built; no entries: no file
  };

  // A column family's new entries cut into up to `pieces` parts of about as
  // many units each, at units' first keys: the parts' files do not overlap,
  // so they still land on the bottom level, and are built in parallel.
  std::vector<Part> parts_of(const char* cf, size_t pieces, const fs::path& staging) const {
    std::vector<std::string> begins;
    for (const auto& [unit, source] : chosen_) {
      const auto families = column_families_of(unit);
      if (std::find_if(families.begin(), families.end(), [&](const char* f) { return std::string_view(f) == cf; }) !=
          families.end()) {
        begins.push_back(range_of(unit, cf).first);
      }
    }
    std::sort(begins.begin(), begins.end());
    const size_t n = std::min(pieces, begins.size());
    std::vector<Part> parts;
    for (size_t p = 0; p < n; ++p) {
      parts.push_back(Part{cf, begins[p * begins.size() / n],
                           p + 1 < n ? begins[(p + 1) * begins.size() / n] : std::string(),
                           staging / (std::string(cf) + "-" + std::to_string(p) + ".sst"), std::nullopt});
    }
    return parts;
  }

  // One part's entries from every shard, in key order, into its file.
  Added build(const Part& part, uint64_t total_bytes) {
    const char* cf = part.cf;
    struct Cursor {
      size_t source;
      std::unique_ptr<rocksdb::Iterator> it;
    };
    std::vector<Cursor> cursors;
    // One pass over each shard: large reads ahead, and nothing kept in the
    // block cache that no one reads again.
    rocksdb::ReadOptions sequential;
    sequential.readahead_size = kReadaheadBytes;
    sequential.fill_cache = false;
    rocksdb::Slice upper(part.upper);
    if (!part.upper.empty()) sequential.iterate_upper_bound = &upper;
    for (size_t i = 0; i < sources_.size(); ++i) {
      if (!sources_[i]->has_cf(cf)) continue;
      Cursor c{i, std::unique_ptr<rocksdb::Iterator>(iterator(*sources_[i], cf, sequential))};
      c.it->Seek(part.lower);
      cursors.push_back(std::move(c));
    }
    const auto later = [&](size_t a, size_t b) { return cursors[a].it->key().compare(cursors[b].it->key()) > 0; };
    std::priority_queue<size_t, std::vector<size_t>, decltype(later)> heap(later);
    for (size_t i = 0; i < cursors.size(); ++i) {
      if (cursors[i].it->Valid()) heap.push(i);
    }

    const std::string file = part.file.string();
    rocksdb::Options options(target_.db_->GetDBOptions(), target_.db_->GetOptions(target_.cf(cf)));
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, target_.cf(cf));
    bool open = false;
    Added added;
    uint64_t unreported = 0;
    std::string unit, last_unit;
    size_t last_source = 0;
    bool take = false;
    while (!heap.empty()) {
      const size_t top = heap.top();
      heap.pop();
      auto& c = cursors[top];
      const auto key = c.it->key().ToStringView();
      unit = unit_key(cf, key);
      if (unit != last_unit || c.source != last_source) {
        const auto found = chosen_.find(unit);
        take = found != chosen_.end() && found->second == c.source;
        last_unit = unit;
        last_source = c.source;
      }
      if (take) {
        if (!open) {
          check(writer.Open(file), "cannot create " + file);
          open = true;
        }
        check(writer.Put(c.it->key(), c.it->value()), "cannot write " + file);
        count(cf, key, added);
        const uint64_t bytes = c.it->key().size() + c.it->value().size();
        added.bytes_read += bytes;
        unreported += bytes;
        if (unreported >= kProgressEveryBytes) {
          report(unreported, total_bytes);
          unreported = 0;
        }
      }
      c.it->Next();
      if (c.it->Valid()) {
        heap.push(top);
      } else {
        check(c.it->status(), std::string("cannot read ") + cf + " of shard " + name(c.source));
      }
    }
    report(unreported, total_bytes);
    if (open) check(writer.Finish(), "cannot finish " + file);
    return added;
  }

  static void count(const char* cf, std::string_view key, Added& added) {
    const std::string_view name(cf);
    ++added.entries;
    if (name == kTilesCf) ++added.tiles;
    if (name == kSlidesCf) ++added.slides;
    if (name == kLatentIndexCf) ++added.latents;
    if (name == kFeaturesCf) ++added.features;
    if (name == kEmbeddingsCf) ++added.embeddings;
    if (name == kPromptsCf && key.find('/') == std::string_view::npos) ++added.prompts;
  }

  void report(uint64_t bytes, uint64_t total_bytes) {
    std::lock_guard lock(progress_mutex_);
    bytes_read_ += bytes;
    if (options_.on_progress) options_.on_progress(bytes_read_, total_bytes);
  }

  // Every part, by a thread per core, the largest column families first.
  void build_parts(std::vector<Part>& parts, uint64_t total_bytes) {
    std::atomic<size_t> next{0};
    std::mutex failure_mutex;
    std::exception_ptr failure;
    const auto work = [&] {
      for (size_t i = next++; i < parts.size(); i = next++) {
        try {
          parts[i].added = build(parts[i], total_bytes);
        } catch (...) {
          std::lock_guard lock(failure_mutex);
          if (!failure) failure = std::current_exception();
          next = parts.size();
        }
      }
    };
    const size_t threads = std::min<size_t>(parts.size(), std::max(1u, std::thread::hardware_concurrency()));
    std::vector<std::thread> workers;
    for (size_t t = 1; t < threads; ++t) workers.emplace_back(work);
    work();
    for (auto& w : workers) w.join();
    if (failure) std::rethrow_exception(failure);
    for (const auto& part : parts) {
      const Added& a = *part.added;
      result_.entries += a.entries;
      result_.bytes_read += a.bytes_read;
      result_.slides_added += a.slides;
      result_.tiles_added += a.tiles;
      result_.latents_added += a.latents;
      result_.features_added += a.features;
      result_.prompts_added += a.prompts;
      result_.embeddings_added += a.embeddings;
    }
  }

  std::optional<fs::path> build_meta(const fs::path& staging) {
    std::map<std::string, std::string> entries;
    for (const auto& [id, record] : models_to_add_) {
      entries[kModelKeyPrefix + id] = encode_model_record(record);
      result_.models_added.push_back(id);
    }
    if (vocabulary_to_add_) {
      entries[kVocabularyKey] = encode_vocabulary_record(*vocabulary_to_add_);
      result_.vocabulary_added = true;
    }
    if (entries.empty()) return std::nullopt;
    const fs::path file = staging / (std::string(kMetaCf) + ".sst");
    rocksdb::Options options(target_.db_->GetDBOptions(), target_.db_->GetOptions(target_.cf(kMetaCf)));
    rocksdb::SstFileWriter writer(rocksdb::EnvOptions(), options, target_.cf(kMetaCf));
    check(writer.Open(file.string()), "cannot create " + file.string());
    for (const auto& [key, value] : entries) check(writer.Put(key, value), "cannot write " + file.string());
    check(writer.Finish(), "cannot finish " + file.string());
    result_.entries += entries.size();
    return file;
  }

  void build_and_ingest() {
    const fs::path staging = target_.dir() / kStagingFolder;
    // A merge killed before its ingestion leaves its files here; they are
    // rebuilt, since the shards may have changed since.
    fs::remove_all(staging);
    if (chosen_.empty() && models_to_add_.empty() && !vocabulary_to_add_) return;
    fs::create_directories(staging);
    uint64_t total = 0;
    for (const auto& source : sources_) total += bytes_on_disk(source->dir());

    // The column families of pixels and latents first: they are the most bytes.
    std::vector<Part> parts;
    const size_t pieces = std::max(1u, std::thread::hardware_concurrency());
    for (const char* cf :
         {kTilePixelsCf, kLatentsCf, kFeaturesCf, kEmbeddingsCf, kTilesCf, kLatentIndexCf, kPromptsCf, kSlidesCf}) {
      for (auto& part : parts_of(cf, pieces, staging)) parts.push_back(std::move(part));
    }
    build_parts(parts, total);
    std::map<std::string, std::vector<std::string>> files;  // column family -> its files, in key order
    for (const auto& part : parts) {
      if (part.added->entries > 0) files[part.cf].push_back(part.file.string());
    }
    if (const auto meta = build_meta(staging)) files[kMetaCf].push_back(meta->string());
    crash_point("merge.files_built");

    std::set<ino_t> built;
    std::vector<rocksdb::IngestExternalFileArg> args;
    for (const auto& [cf, paths] : files) {
      for (const auto& path : paths) built.insert(inode_of(path));
      rocksdb::IngestExternalFileArg arg;
      arg.column_family = target_.cf(cf.c_str());
      arg.external_files = paths;
      arg.options.move_files = true;  // linked: the staging folder is on the store's file system
      arg.options.allow_blocking_flush = true;
      // The sequence number goes in the MANIFEST only: writing it into the
      // file would rewrite a file that is linked, not copied.
      arg.options.write_global_seqno = false;
      args.push_back(std::move(arg));
    }
    // Flushed first, so that every table file that appears is one of these.
    check(target_.db_->Flush(rocksdb::FlushOptions(), target_.handles_), "flush of " + target_.dir().string());
    std::vector<rocksdb::LiveFileMetaData> before, after;
    target_.db_->GetLiveFilesMetaData(&before);
    std::set<std::string> old_files;
    for (const auto& f : before) old_files.insert(f.name);
    check(target_.db_->IngestExternalFiles(args),
          "cannot ingest the merged files into " + target_.dir().string() + " (it is unchanged)");
    crash_point("merge.files_ingested");
    target_.db_->GetLiveFilesMetaData(&after);
    result_.hard_linked = true;
    for (const auto& f : after) {
      if (old_files.count(f.name)) continue;
      const fs::path path = fs::path(f.db_path) / fs::path(f.name).relative_path();
      result_.files.push_back(
          MergedFile{f.column_family_name, path.filename().string(), f.level, f.size, f.num_entries});
      result_.bytes += f.size;
      if (!built.count(inode_of(path))) result_.hard_linked = false;
    }
    std::sort(result_.files.begin(), result_.files.end(), [](const MergedFile& a, const MergedFile& b) {
      return std::tie(a.column_family, a.name) < std::tie(b.column_family, b.name);
    });
    fs::remove_all(staging);
  }

  Store& target_;
  const MergeOptions& options_;
  std::vector<std::unique_ptr<Store>> sources_;
  MergeResult result_;
  std::map<std::string, size_t> chosen_;  // unit -> the shard it is taken from
  std::set<std::string> model_ids_;       // registered in the target or a shard
  std::map<std::string, ModelRecord> models_to_add_;
  std::optional<VocabularyRecord> vocabulary_to_add_;
  std::mutex progress_mutex_;
  uint64_t bytes_read_ = 0;  // all parts', for progress
};

MergeResult Store::merge(const std::vector<fs::path>& shards, const MergeOptions& options) {
  if (read_only_) throw Error("store " + dir_.string() + " was opened read-only");
  if (shards.empty()) throw Error("no shard stores to merge into " + dir_.string());
  return ShardMerge(*this, shards, options).run();
}

}  // namespace tessera::store
