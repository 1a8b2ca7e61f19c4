#include "store/store.h"

#include <gtest/gtest.h>
#include <rocksdb/db.h>
#include <rocksdb/table_properties.h>

#include <fstream>
#include <functional>

#include "base/error.h"
#include "test_data.h"

namespace tessera::store {
namespace {
namespace fs = std::filesystem;

SlideRecord record(const std::string& id, SlideStatus status) {
  SlideRecord r;
  r.id = id;
  r.path = "/data/" + id + ".svs";
  r.mpp_x = r.mpp_y = 0.499;
  r.mpp_source = "openslide";
  r.tile_size = 256;
  r.rejected = {{"tissue", 3}, {"pen", 1}};
  r.status = status;
  return r;
}

TileRecord tile(int64_t x) {
  TileRecord t;
  t.x = x;
  t.y = 2 * x;
  t.extent = 256;
  t.size = 256;
  t.mpp = 0.5f;
  t.tissue_fraction = 0.75f;
  t.blur_score = 123.5f;
  return t;
}

void write_tiles(Store& store, const std::string& id, int n, size_t batch_bytes = size_t{4} << 20) {
  auto writer = store.slide_writer(id, batch_bytes);
  for (int i = 0; i < n; ++i) writer.add(uint32_t(i / 4), uint32_t(i % 4), tile(i), "pixels-" + std::to_string(i));
  auto r = record(id, SlideStatus::kComplete);
  r.tiles_kept = n;
  writer.commit(r);
}

// Opens a closed store's database with RocksDB itself, as another program
// would, and calls `use` with one of its column families.
void with_column_family(const fs::path& store_dir, const std::string& cf_name, bool read_only,
                        const std::function<void(rocksdb::DB&, rocksdb::ColumnFamilyHandle*)>& use) {
  const std::string db_dir = (store_dir / "db").string();
  std::vector<std::string> names;
  ASSERT_TRUE(rocksdb::DB::ListColumnFamilies(rocksdb::DBOptions(), db_dir, &names).ok());
  std::vector<rocksdb::ColumnFamilyDescriptor> cfs;
  for (const auto& n : names) cfs.emplace_back(n, rocksdb::ColumnFamilyOptions());
  std::vector<rocksdb::ColumnFamilyHandle*> handles;
  rocksdb::DB* db = nullptr;
  const auto opened = read_only ? rocksdb::DB::OpenForReadOnly(rocksdb::DBOptions(), db_dir, cfs, &handles, &db)
                                : rocksdb::DB::Open(rocksdb::DBOptions(), db_dir, cfs, &handles, &db);
  ASSERT_TRUE(opened.ok()) << opened.ToString();
  for (size_t i = 0; i < names.size(); ++i) {
    if (names[i] == cf_name) use(*db, handles[i]);
  }
  for (auto* h : handles) db->DestroyColumnFamilyHandle(h);
  delete db;
}

// Writes `value` under `key` of a column family with RocksDB itself, as another
// program or a damaged disk would.
void put_raw(const fs::path& store_dir, const std::string& cf_name, const std::string& key, const std::string& value) {
  with_column_family(store_dir, cf_name, false, [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    EXPECT_TRUE(db.Put(rocksdb::WriteOptions(), cf, key, value).ok());
  });
}

// The table properties of every file of a column family.
rocksdb::TablePropertiesCollection table_properties(const fs::path& store_dir, const std::string& cf_name) {
  rocksdb::TablePropertiesCollection properties;
  with_column_family(store_dir, cf_name, true, [&](rocksdb::DB& db, rocksdb::ColumnFamilyHandle* cf) {
    EXPECT_TRUE(db.GetPropertiesOfAllTables(cf, &properties).ok());
  });
  return properties;
}

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no tessera::Error thrown";
  return "";
}

TEST(Keys, TileKeysSortRowMajorAndRoundTrip) {
  EXPECT_LT(encode_tile_key("s", 0, 5), encode_tile_key("s", 1, 0));
  EXPECT_LT(encode_tile_key("s", 1, 2), encode_tile_key("s", 1, 10));
  const auto k = decode_tile_key(encode_tile_key("slide-7", 70000, 3));
  EXPECT_EQ(k.slide_id, "slide-7");
  EXPECT_EQ(k.row, 70000u);
  EXPECT_EQ(k.col, 3u);
  EXPECT_THROW(decode_tile_key("no-separator"), Error);
  EXPECT_THROW(check_slide_id(std::string("a\0b", 3)), Error);
}

TEST(Records, RoundTrip) {
  const auto r = record("A", SlideStatus::kFailed);
  const auto back = decode_slide_record(encode_slide_record(r));
  EXPECT_EQ(back.id, "A");
  EXPECT_EQ(back.status, SlideStatus::kFailed);
  EXPECT_EQ(back.rejected.at("tissue"), 3);
  EXPECT_DOUBLE_EQ(back.mpp_x, 0.499);
  const auto t = decode_tile_record(encode_tile_record(tile(9)));
  EXPECT_EQ(t.x, 9);
  EXPECT_EQ(t.y, 18);
  EXPECT_FLOAT_EQ(t.blur_score, 123.5f);
  EXPECT_THROW(decode_tile_record("\x01short"), Error);
  EXPECT_THROW(decode_slide_record("{\"id\": 1}"), Error);
}

TEST(Records, APromptSourceKeepsWhetherAStageIsPostTreatment) {
  PromptSource source;
  source.case_id = "C1";
  source.fields = {{"pt", "T2", 10, 14, false, true}, {"pn", "N1", 15, 19, false, false}};
  const auto back = decode_prompt_source(encode_prompt_source(source));
  ASSERT_EQ(back.fields.size(), 2u);
  EXPECT_TRUE(back.fields[0].post_treatment);
  EXPECT_FALSE(back.fields[1].post_treatment);
  // A source stored before the flag was kept reads as not post-treatment.
  const auto old = decode_prompt_source(
      R"({"case_id": "C1", "summary_source": "report", "report_origin": "r.csv:2", "dropped": [],
          "fields": [{"name": "pt", "value": "T2", "begin": 0, "end": 3, "derived": false}]})");
  ASSERT_EQ(old.fields.size(), 1u);
  EXPECT_FALSE(old.fields[0].post_treatment);
}

TEST(Store, SlidesAndTilesRoundTrip) {
  testing::TempDir dir;
  auto store = Store::open(dir / "s");
  write_tiles(*store, "A", 10);
  ASSERT_TRUE(store->slide("A"));
  EXPECT_EQ(store->slide("A")->status, SlideStatus::kComplete);
  EXPECT_FALSE(store->slide("B"));
  EXPECT_EQ(store->count_tiles("A"), 10u);
  EXPECT_EQ(*store->tile_pixels("A", 1, 2), "pixels-6");
  EXPECT_FALSE(store->tile_pixels("A", 9, 9));
  std::vector<std::pair<uint32_t, uint32_t>> order;
  store->for_each_tile("A", [&](const TileKey& k, const TileRecord& t) {
    order.emplace_back(k.row, k.col);
    EXPECT_EQ(t.x, int64_t(k.row * 4 + k.col));
  });
  ASSERT_EQ(order.size(), 10u);
  EXPECT_EQ(order.front(), std::make_pair(0u, 0u));
  EXPECT_EQ(order.back(), std::make_pair(2u, 1u));
}

// JPEG is entropy-coded: the pixels' table files, which a merge writes with
// the pixels inline, are compressed in zstd's fast mode, which still
// shrinks their keys and index, not at the level that spends a merge's time
// failing to shrink JPEG.
TEST(Store, MergedPixelTablesAreCompressedInZstdsFastMode) {
  testing::TempDir dir;
  for (const char* shard : {"a", "b"}) {
    auto store = Store::open(dir / shard);
    write_tiles(*store, std::string("slide-") + shard, 12);
  }
  {
    auto target = Store::open(dir / "merged");
    const auto result = target->merge({dir / "a", dir / "b"});
    EXPECT_EQ(result.tiles_added, 24u);
    EXPECT_EQ(*target->tile_pixels("slide-b", 2, 3), "pixels-11");
  }
  const auto tables = table_properties(dir / "merged", kTilePixelsCf);
  ASSERT_FALSE(tables.empty());
  for (const auto& [file, properties] : tables) {
    EXPECT_EQ(properties->compression_name, "ZSTD") << file;
    EXPECT_NE(properties->compression_options.find("level=-5;"), std::string::npos)
        << file << ": " << properties->compression_options;
  }
}

TEST(Store, ResetRemovesOnlyThatSlidesTiles) {
  testing::TempDir dir;
  auto store = Store::open(dir / "s");
  write_tiles(*store, "s1", 6);
  write_tiles(*store, "s1x", 5);  // shares the prefix "s1"
  write_tiles(*store, "s0", 4);
  store->reset_slide(record("s1", SlideStatus::kPending));
  EXPECT_EQ(store->count_tiles("s1"), 0u);
  EXPECT_FALSE(store->tile_pixels("s1", 0, 0));
  EXPECT_EQ(store->count_tiles("s1x"), 5u);
  EXPECT_EQ(store->count_tiles("s0"), 4u);
  EXPECT_EQ(store->slide("s1")->status, SlideStatus::kPending);
}

TEST(Store, CompletionIsWrittenWithTheLastBatch) {
  testing::TempDir dir;
  auto store = Store::open(dir / "s");
  store->reset_slide(record("A", SlideStatus::kPending));
  {
    // Tiny batches: tiles reach the store before the slide completes.
    auto writer = store->slide_writer("A", /*max_batch_bytes=*/64);
    for (int i = 0; i < 20; ++i) writer.add(0, uint32_t(i), tile(i), std::string(100, 'p'));
    EXPECT_EQ(store->count_tiles("A"), 20u);
    EXPECT_EQ(store->slide("A")->status, SlideStatus::kPending);
    // The writer goes away without commit, as in a crash.
  }
  EXPECT_EQ(store->slide("A")->status, SlideStatus::kPending);
  store.reset();
  // A reopened store still says pending, so the slide is redone from a reset.
  store = Store::open(dir / "s");
  EXPECT_EQ(store->slide("A")->status, SlideStatus::kPending);
  write_tiles(*store, "A", 3);
  EXPECT_EQ(store->slide("A")->status, SlideStatus::kComplete);
}

TEST(Store, ReaderSeesAStoreHeldByAWriter) {
  testing::TempDir dir;
  auto writer = Store::open(dir / "s");
  write_tiles(*writer, "A", 7);
  StoreOptions read_only;
  read_only.read_only = true;
  auto reader = Store::open(dir / "s", read_only);
  ASSERT_EQ(reader->slides().size(), 1u);
  EXPECT_EQ(reader->count_tiles("A"), 7u);
  EXPECT_THROW(reader->put_slide(record("B", SlideStatus::kPending)), Error);
}

TEST(Store, ReaderReadsBlobValuesWhileAWriterHoldsTheStore) {
  // Pixels and latents over 2 KiB live in blob files once flushed; a reader
  // must read them while the writer is open (a secondary instance crashes).
  testing::TempDir dir;
  auto writer = Store::open(dir / "s");
  {
    auto w = writer->slide_writer("A");
    w.add(0, 0, tile(0), std::string(8192, 'j'));
    w.commit(record("A", SlideStatus::kComplete));
  }
  writer->flush();
  StoreOptions read_only;
  read_only.read_only = true;
  auto reader = Store::open(dir / "s", read_only);
  EXPECT_EQ(*reader->tile_pixels("A", 0, 0), std::string(8192, 'j'));
}

TEST(TensorRecords, RoundTripAndRejectInconsistentBytes) {
  TensorRecord r;
  r.kind = TensorKind::kKlMoments;
  r.dtype = TensorDType::kF16;
  r.shape = {8, 2, 3};
  r.scale_factor = 0.18215f;
  r.data.assign(8 * 2 * 3 * 2, '\x3c');
  const auto bytes = encode_tensor_record(r);
  EXPECT_EQ(bytes.size(), 4 + 3 * 4 + 4 + r.data.size());
  const auto back = decode_tensor_record(bytes);
  EXPECT_EQ(back.kind, TensorKind::kKlMoments);
  EXPECT_EQ(back.dtype, TensorDType::kF16);
  EXPECT_EQ(back.shape, r.shape);
  EXPECT_FLOAT_EQ(back.scale_factor, 0.18215f);
  EXPECT_EQ(back.data, r.data);
  EXPECT_THROW(decode_tensor_record(bytes.substr(0, bytes.size() - 1)), Error);  // truncated payload
  EXPECT_THROW(decode_tensor_record(bytes.substr(0, 10)), Error);                // truncated header
  auto bad = bytes;
  bad[1] = 9;  // unknown kind
  EXPECT_THROW(decode_tensor_record(bad), Error);
  r.data.pop_back();
  EXPECT_THROW(encode_tensor_record(r), Error);
}

TEST(Keys, ModelPrefixesBoundOneModelsRange) {
  const std::string id = "00ff00000000000000000000000000ab";
  const auto prefix = encode_model_prefix(id);
  ASSERT_EQ(prefix.size(), 16u);
  EXPECT_EQ(decode_model_prefix(prefix), id);
  const auto end = model_range_end(prefix);
  EXPECT_LT(encode_latent_key(id, "slide", 99, 99), end);
  EXPECT_GT(encode_latent_key("00ff00000000000000000000000000ac", "a", 0, 0), end);
  const auto key = decode_latent_key(encode_latent_key(id, "s", 3, 4));
  EXPECT_EQ(key.model_id, id);
  EXPECT_EQ(key.tile.slide_id, "s");
  EXPECT_EQ(key.tile.col, 4u);
  EXPECT_THROW(encode_model_prefix("ABCDEF"), Error);
  EXPECT_THROW(encode_model_prefix(std::string(32, 'g')), Error);
}

TEST(Store, LatentsAreFoundMissingPerModelAndGcRemovesUnusedPrompts) {
  testing::TempDir dir;
  auto store = Store::open(dir / "s");
  const std::string a(32, 'a'), b(32, 'b');
  for (const auto& id : {a, b}) {
    ModelRecord m;
    m.id = id;
    m.role = "first_stage";
    m.architecture = "vq";
    m.output_shape = {3, 1, 1};
    store->put_model(m);
  }
  PromptRecord used, unused;
  used.id = std::string(32, '1');
  used.text = "used";
  unused.id = std::string(32, '2');
  unused.text = "unused";
  PromptSource source;
  source.case_id = "C1";
  unused.sources = {source};
  {
    auto w = store->slide_writer("S");
    w.add_prompt(used);
    w.add_prompt(unused);
    for (uint32_t c = 0; c < 5; ++c) {
      auto t = tile(c);
      t.prompt_id = used.id;
      w.add(0, c, t, "px");
    }
    w.commit(record("S", SlideStatus::kComplete));
  }
  TensorRecord latent;
  latent.shape = {3, 1, 1};
  latent.data.assign(6, '\0');
  store->put_latents(a, {{TileKey{"S", 0, 1}, latent}, {TileKey{"S", 0, 3}, latent}});
  const auto missing = store->tiles_without_latents(a, "S");
  ASSERT_EQ(missing.size(), 3u);
  EXPECT_EQ(missing[0].col, 0u);
  EXPECT_EQ(missing[1].col, 2u);
  EXPECT_EQ(missing[2].col, 4u);
  EXPECT_EQ(store->tiles_without_latents(b, "S").size(), 5u);
  EXPECT_EQ(store->count_latents(a), 2u);
  store->put_embeddings(b, {{unused.id, latent}});

  const auto result = store->gc({b});
  EXPECT_EQ(result.removed_models, std::vector<std::string>{a});
  EXPECT_EQ(result.latents_removed, 2u);
  EXPECT_EQ(result.prompts_removed, 1u);
  EXPECT_EQ(result.embeddings_removed, 1u);
  EXPECT_EQ(store->count_latents(a), 0u);
  EXPECT_FALSE(store->model(a));
  EXPECT_TRUE(store->model(b));
  EXPECT_TRUE(store->prompt(used.id));
  EXPECT_FALSE(store->prompt(unused.id));
  EXPECT_FALSE(store->embedding(b, unused.id));
  EXPECT_EQ(store->prompts().size(), 1u);
}

TEST(Store, FeaturesAreKeptPerExtractorAndTileAndRemovedWithTheirExtractor) {
  testing::TempDir dir;
  auto store = Store::open(dir / "s");
  write_tiles(*store, "S", 3);
  const std::string kept(32, 'c'), dropped(32, 'd');
  for (const auto& id : {kept, dropped}) {
    ModelRecord m;
    m.id = id;
    m.role = "feature_extractor";
    m.architecture = "torchscript";
    store->put_model(m);
  }
  TensorRecord features;
  features.kind = TensorKind::kImageFeatures;
  features.dtype = TensorDType::kF32;
  features.shape = {2};
  const float values[2] = {1.5f, -2.0f};
  features.data.assign(reinterpret_cast<const char*>(values), sizeof values);
  EXPECT_EQ(decode_tensor_record(encode_tensor_record(features)).kind, TensorKind::kImageFeatures);
  store->put_features(kept, {{TileKey{"S", 0, 0}, features}, {TileKey{"S", 0, 2}, features}});
  store->put_features(dropped, {{TileKey{"S", 0, 1}, features}});
  EXPECT_EQ(store->count_features(kept), 2u);
  EXPECT_EQ(store->count_features(dropped), 1u);
  const auto read = store->features(kept, TileKey{"S", 0, 2});
  ASSERT_TRUE(read);
  EXPECT_EQ(read->data, features.data);
  EXPECT_FALSE(store->features(kept, TileKey{"S", 0, 1}));
  EXPECT_EQ(store->counts().features, 3u);

  const auto result = store->gc({kept});
  EXPECT_EQ(result.removed_models, std::vector<std::string>{dropped});
  EXPECT_EQ(result.features_removed, 1u);
  EXPECT_EQ(store->count_features(dropped), 0u);
  EXPECT_EQ(store->count_features(kept), 2u);
}

TEST(Store, SecondWriterIsRefusedWithTheLockNamed) {
  testing::TempDir dir;
  auto first = Store::open(dir / "s");
  write_tiles(*first, "A", 2);
  try {
    Store::open(dir / "s");
    FAIL() << "a second writer must be refused";
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_NE(message.find("is in use by another process"), std::string::npos) << message;
    EXPECT_NE(message.find((dir / "s/db/LOCK").string()), std::string::npos) << message;
  }
  EXPECT_EQ(first->count_tiles("A"), 2u);
}

TEST(Store, OtherSchemaVersionIsRefused) {
  testing::TempDir dir;
  { Store::open(dir / "s"); }
  // Rewrite the version as a future tessera would.
  put_raw(dir / "s", kMetaCf, "schema_version", "999");
  try {
    Store::open(dir / "s");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("has schema version 999, but this tessera reads version 1"), std::string::npos)
        << e.what();
  }
}

TEST(Store, ACorruptRecordIsReportedWithItsEntry) {
  testing::TempDir dir;
  {
    auto store = Store::open(dir / "s");
    write_tiles(*store, "A", 2);
  }
  put_raw(dir / "s", kSlidesCf, "A", "{not json");
  put_raw(dir / "s", kTilesCf, encode_tile_key("A", 0, 1), "\x01short");
  const auto store = Store::open(dir / "s");
  EXPECT_NE(error_of([&] { (void)store->slide("A"); }).find("the record of slide A: corrupt slide record"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)store->slides(); }).find("the record of slide A: corrupt slide record"),
            std::string::npos);
  EXPECT_NE(error_of([&] { (void)store->count_tiles("A"); }).find("tile (0, 1) of slide A: corrupt tile record"),
            std::string::npos);
}

// A copy of a store's files taken while it is open, as a writer killed now
// leaves them: its writes since the open are in the write-ahead log only.
fs::path copy_of_open_store(const fs::path& store_dir, const fs::path& to) {
  fs::create_directories(to);
  fs::copy(store_dir / "db", to / "db", fs::copy_options::recursive);
  return to;
}

// Three writes through the write-ahead log, in a store left as a killed
// writer leaves it: slide A's final record (its 4 tiles are in table files
// already), B, latents of A's tiles larger than a block of the log (32 KiB),
// so that C's write starts in another block (a damaged block is skipped
// whole), and C, the record of a complete slide. Returns the log's length
// after A.
uint64_t killed_store_of_three_writes(const fs::path& live, const fs::path& copy) {
  auto store = Store::open(live);
  ModelRecord model;
  model.id = std::string(32, 'b');
  model.role = "first_stage";
  model.architecture = "vq";
  model.output_shape = {4, 32, 32};
  store->put_model(model);
  write_tiles(*store, "A", 4);
  const uint64_t after_a = fs::file_size(testing::write_ahead_log(live));
  TensorRecord latent;
  latent.shape = model.output_shape;
  latent.data.assign(4 * 32 * 32 * 2, '\x5a');
  std::vector<std::pair<TileKey, TensorRecord>> latents;
  for (uint32_t col = 0; col < 4; ++col) latents.push_back({TileKey{"A", 0, col}, latent});
  store->put_latents(model.id, latents);
  store->put_slide(record("C", SlideStatus::kComplete));
  copy_of_open_store(live, copy);
  return after_a;
}

TEST(Store, ADamagedWriteAheadLogIsRefusedWithTheStoreNamed) {
  testing::TempDir dir;
  const uint64_t after_a = killed_store_of_three_writes(dir / "live", dir / "s");
  const auto log = testing::write_ahead_log(dir / "s");
  // Inside B's write, past its record header.
  testing::flip_bytes(log, after_a + 40, 4);
  for (const bool read_only : {false, true}) {
    StoreOptions options;
    options.read_only = read_only;
    const std::string message = error_of([&] { Store::open(dir / "s", options); });
    EXPECT_NE(message.find("store " + (dir / "s").string() + " has a damaged write-ahead log (" + log.string() + ")"),
              std::string::npos)
        << message;
    EXPECT_NE(message.find("`tessera repair --store " + (dir / "s").string() + "`"), std::string::npos) << message;
  }
}

TEST(Store, ALogTornAtItsEndOpensWithoutTheUnfinishedWrite) {
  // kill -9 in the middle of a write: the store opens, as a resume needs.
  testing::TempDir dir;
  const uint64_t after_a = killed_store_of_three_writes(dir / "live", dir / "s");
  fs::resize_file(testing::write_ahead_log(dir / "s"), after_a + 40);
  const auto store = Store::open(dir / "s");
  EXPECT_EQ(store->count_tiles("A"), 4u);
  ASSERT_TRUE(store->slide("A"));
  EXPECT_EQ(store->slide("A")->status, SlideStatus::kComplete);
  EXPECT_EQ(store->count_latents(std::string(32, 'b')), 0u);
  EXPECT_FALSE(store->slide("C"));
}

TEST(Store, ASlidesTilesSkipTheLogAndAreInTableFilesOnceItIsCommitted) {
  testing::TempDir dir;
  auto store = Store::open(dir / "live");
  const std::string pixels(64 << 10, 'p');
  {
    // 4 KiB batches: every tile is its own write.
    auto writer = store->slide_writer("A", 4 << 10);
    for (uint32_t col = 0; col < 8; ++col) writer.add(0, col, tile(col), pixels);
    auto r = record("A", SlideStatus::kComplete);
    r.tiles_kept = 8;
    writer.commit(r);
  }
  // The log holds A's record, not its 512 KiB of pixels.
  uint64_t logged = 0;
  for (const auto& entry : fs::directory_iterator(dir / "live" / "db")) {
    if (entry.path().extension() == ".log") logged += fs::file_size(entry.path());
  }
  EXPECT_LT(logged, 4096u);

  // B's tiles are written but not committed when the writer is killed.
  store->reset_slide(record("B", SlideStatus::kPending));
  auto writer = store->slide_writer("B", 4 << 10);
  for (uint32_t col = 0; col < 4; ++col) writer.add(0, col, tile(col), pixels);
  copy_of_open_store(dir / "live", dir / "killed");

  const auto killed = Store::open(dir / "killed");
  ASSERT_TRUE(killed->slide("A"));
  EXPECT_EQ(killed->slide("A")->status, SlideStatus::kComplete);
  EXPECT_EQ(killed->count_tiles("A"), 8u);
  EXPECT_EQ(killed->tile_pixels("A", 0, 7), pixels);
  ASSERT_TRUE(killed->slide("B"));
  EXPECT_EQ(killed->slide("B")->status, SlideStatus::kPending);
  EXPECT_EQ(killed->count_tiles("B"), 0u);
}

TEST(Store, ResettingASlideRemovesTilesAKilledWriterLeftInTableFiles) {
  testing::TempDir dir;
  auto store = Store::open(dir / "live");
  store->reset_slide(record("B", SlideStatus::kPending));
  {
    auto writer = store->slide_writer("B", 4 << 10);
    for (uint32_t col = 0; col < 4; ++col) writer.add(0, col, tile(col), std::string(4 << 10, 'p'));
    // Another slide's commit, or a full memtable, flushes B's tiles so far.
    store->flush();
    copy_of_open_store(dir / "live", dir / "killed");
  }
  const auto killed = Store::open(dir / "killed");
  EXPECT_EQ(killed->slide("B")->status, SlideStatus::kPending);
  EXPECT_EQ(killed->count_tiles("B"), 4u);
  killed->reset_slide(record("B", SlideStatus::kPending));
  EXPECT_EQ(killed->count_tiles("B"), 0u);
}

TEST(Store, AStoreClosedCleanlyKeepsNothingInItsLog) {
  testing::TempDir dir;
  {
    auto store = Store::open(dir / "s");
    write_tiles(*store, "A", 4);
  }
  EXPECT_EQ(fs::file_size(testing::write_ahead_log(dir / "s")), 0u);
  EXPECT_EQ(Store::open(dir / "s")->count_tiles("A"), 4u);
}

TEST(Store, RepairKeepsTheWritesBeforeTheDamageAndReportsWhatItDrops) {
  testing::TempDir dir;
  const uint64_t after_a = killed_store_of_three_writes(dir / "live", dir / "s");
  testing::flip_bytes(testing::write_ahead_log(dir / "s"), after_a + 40, 4);

  const auto r = Store::repair(dir / "s");
  EXPECT_TRUE(r.log_damaged);
  // B's damaged write is unreadable; C's, after it, is readable but dropped:
  // it is not consistent without B's.
  ASSERT_TRUE(r.before);
  EXPECT_EQ(r.before->slides, 2u);
  EXPECT_EQ(r.before->complete_slides, 2u);
  EXPECT_EQ(r.before->tiles, 4u);
  EXPECT_EQ(r.before->latents, 0u);
  EXPECT_EQ(r.after.slides, 1u);
  EXPECT_EQ(r.after.complete_slides, 1u);
  EXPECT_EQ(r.after.tiles, 4u);
  ASSERT_EQ(r.slides_rolled_back.size(), 1u);
  EXPECT_EQ(r.slides_rolled_back[0].id, "C");
  EXPECT_EQ(r.slides_rolled_back[0].before, "complete");
  EXPECT_EQ(r.slides_rolled_back[0].after, "absent");

  // The repaired store opens as any other, and a second repair finds nothing.
  {
    const auto store = Store::open(dir / "s");
    EXPECT_EQ(store->count_tiles("A"), 4u);
    EXPECT_FALSE(store->slide("C"));
  }
  const auto again = Store::repair(dir / "s");
  EXPECT_FALSE(again.log_damaged);
  EXPECT_EQ(again.after.tiles, 4u);
  EXPECT_TRUE(again.slides_rolled_back.empty());
}

TEST(Store, RepairTakesTheStoresLockAndNeverCreatesAStore) {
  testing::TempDir dir;
  const auto holder = Store::open(dir / "s");
  const std::string message = error_of([&] { Store::repair(dir / "s"); });
  EXPECT_NE(message.find("is in use by another process"), std::string::npos) << message;
  fs::create_directories(dir / "empty");
  EXPECT_EQ(error_of([&] { Store::repair(dir / "empty"); }), "no tessera store at " + (dir / "empty").string());
  EXPECT_TRUE(fs::is_empty(dir / "empty"));
}

TEST(Store, RefusesAFolderThatIsNotAStore) {
  testing::TempDir dir;
  fs::create_directories(dir / "photos");
  std::ofstream(dir / "photos/holiday.jpg") << "jpeg";
  EXPECT_THROW(Store::open(dir / "photos"), Error);
  EXPECT_TRUE(fs::exists(dir / "photos/holiday.jpg"));
  StoreOptions read_only;
  read_only.read_only = true;
  EXPECT_THROW(Store::open(dir / "nothing", read_only), Error);
}

}  // namespace
}  // namespace tessera::store
