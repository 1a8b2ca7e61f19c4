#include "pipeline/ingest.h"

#include <gtest/gtest.h>

#include <fstream>
#include <random>

#include "base/error.h"
#include "imaging/image_metrics.h"
#include "imaging/jpeg_codec.h"
#include "slide/resample_method.h"
#include "slide/slide.h"
#include "slide/tiling_limits.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;
using store::SlideStatus;

// small_spec(): 2048 x 1536 at 0.5 µm/px = 8 x 6 tiles of 256. The pen stroke
// (y 440..480, x 512..1228) crosses tiles (1,2) (1,3) (1,4); the blurred area
// is set to exactly tiles (3,4) and (3,5).
examples::SyntheticSlideSpec known_spec() {
  auto spec = testing::small_spec();
  spec.blur_area[0] = 1024.0 / 2048, spec.blur_area[1] = 768.0 / 1536;
  spec.blur_area[2] = 1536.0 / 2048, spec.blur_area[3] = 1024.0 / 1536;
  return spec;
}

IngestOptions options_for(const fs::path& store, std::vector<std::string> slides) {
  return testing::quiet_ingest(store, std::move(slides));
}

std::set<std::pair<uint32_t, uint32_t>> stored_cells(const fs::path& store_dir, const std::string& id) {
  store::StoreOptions ro;
  ro.read_only = true;
  auto store = store::Store::open(store_dir, ro);
  std::set<std::pair<uint32_t, uint32_t>> cells;
  store->for_each_tile(id, [&](const store::TileKey& k, const store::TileRecord&) { cells.emplace(k.row, k.col); });
  return cells;
}

class IngestTest : public ::testing::Test {
 protected:
  void SetUp() override { slide_ = testing::make_slide(dir_.path(), "TCGA-AA-0001-01Z-00-DX1.tiff", known_spec()); }
  testing::TempDir dir_;
  fs::path slide_;
};

TEST_F(IngestTest, SyntheticSlideGivesTheKnownTilesAndRejections) {
  const auto summary = run_ingest(options_for(dir_ / "store", {slide_.string()}));
  EXPECT_EQ(summary.complete, 1u);
  EXPECT_EQ(summary.failed, 0u);

  auto store = store::Store::open(dir_ / "store");
  const auto r = *store->slide("TCGA-AA-0001-01Z-00-DX1");
  EXPECT_EQ(r.status, SlideStatus::kComplete);
  EXPECT_EQ(r.vendor, "generic-tiff");
  EXPECT_EQ(r.mpp_source, "tiff-resolution");
  EXPECT_DOUBLE_EQ(r.mpp_x, 0.5);
  EXPECT_EQ(r.level, 0);
  EXPECT_EQ(r.grid_cols, 8);
  EXPECT_EQ(r.grid_rows, 6);
  EXPECT_EQ(r.tiles_total, 48);
  EXPECT_EQ(r.rejected.at("pen"), 3);
  EXPECT_EQ(r.rejected.at("blur"), 2);
  int64_t rejected = 0;
  for (const auto& [rule, n] : r.rejected) rejected += n;
  EXPECT_EQ(r.tiles_kept + rejected, 48);
  EXPECT_GE(r.rejected.at("tissue"), 10);  // the corners are glass
  EXPECT_EQ(store->count_tiles(r.id), uint64_t(r.tiles_kept));

  const auto cells = stored_cells(dir_ / "store", r.id);
  EXPECT_FALSE(cells.count({1, 3})) << "the pen tile was stored";
  EXPECT_FALSE(cells.count({3, 4})) << "the blurred tile was stored";
  EXPECT_FALSE(cells.count({3, 5})) << "the blurred tile was stored";
  EXPECT_FALSE(cells.count({0, 0})) << "a glass corner was stored";
  EXPECT_TRUE(cells.count({3, 3})) << "central tissue was not stored";
  EXPECT_TRUE(fs::exists(dir_ / "store/qc/TCGA-AA-0001-01Z-00-DX1.png"));
}

TEST_F(IngestTest, StoredPixelsMatchTheSlide) {
  run_ingest(options_for(dir_ / "store", {slide_.string()}));
  auto store = store::Store::open(dir_ / "store");
  const auto jpeg = store->tile_pixels("TCGA-AA-0001-01Z-00-DX1", 3, 3);
  ASSERT_TRUE(jpeg);
  const auto tile = stages::decode_jpeg(*jpeg);
  ASSERT_EQ(tile.width, 256);
  const auto slide = stages::Slide::open(slide_.string());
  const auto truth = slide->read_region(3 * 256, 3 * 256, 0, 256, 256);
  EXPECT_GT(stages::psnr(truth, tile), 32.0);
}

TEST_F(IngestTest, ResultsDoNotDependOnTheNumberOfReaders) {
  std::vector<store::SlideRecord> records;
  for (int jobs : {1, 2, 4}) {
    auto o = options_for(dir_ / ("store" + std::to_string(jobs)), {slide_.string()});
    o.jobs = jobs;
    o.tiles_in_flight = size_t(jobs);
    run_ingest(o);
    records.push_back(*store::Store::open(o.store)->slide("TCGA-AA-0001-01Z-00-DX1"));
  }
  for (const auto& r : records) {
    EXPECT_EQ(r.tiles_kept, records[0].tiles_kept);
    EXPECT_EQ(r.rejected, records[0].rejected);
  }
}

TEST_F(IngestTest, RerunSkipsChangedConfigRedoesForceRedoes) {
  auto o = options_for(dir_ / "store", {slide_.string()});
  EXPECT_EQ(run_ingest(o).complete, 1u);
  const auto again = run_ingest(o);
  EXPECT_EQ(again.complete, 0u);
  EXPECT_EQ(again.skipped, 1u);

  o.tile = 128;
  const auto changed = run_ingest(o);
  EXPECT_EQ(changed.complete, 1u);
  const auto r = *store::Store::open(o.store)->slide("TCGA-AA-0001-01Z-00-DX1");
  EXPECT_EQ(r.tiles_total, 16 * 12);
  EXPECT_EQ(store::Store::open(o.store)->count_tiles(r.id), uint64_t(r.tiles_kept));

  o.force = true;
  const auto forced = run_ingest(o);
  EXPECT_EQ(forced.complete, 1u);
  EXPECT_EQ(forced.skipped, 0u);
}

TEST_F(IngestTest, BadSlidesFailAloneAndGoodOnesComplete) {
  // Random bytes with a slide extension, and the good slide cut short.
  {
    std::ofstream garbage(dir_ / "corrupt.svs", std::ios::binary);
    std::mt19937 rng(1);
    for (int i = 0; i < 100000; ++i) garbage.put(char(rng()));
  }
  const auto size = fs::file_size(slide_);
  fs::copy_file(slide_, dir_ / "truncated.tiff");
  fs::resize_file(dir_ / "truncated.tiff", size / 3);

  const auto summary = run_ingest(options_for(
      dir_ / "store", {(dir_ / "corrupt.svs").string(), slide_.string(), (dir_ / "truncated.tiff").string()}));
  EXPECT_EQ(summary.slides, 3u);
  EXPECT_EQ(summary.complete, 1u);
  EXPECT_EQ(summary.failed, 2u);
  ASSERT_EQ(summary.failures.size(), 2u);

  auto store = store::Store::open(dir_ / "store");
  const auto corrupt = *store->slide("corrupt");
  EXPECT_EQ(corrupt.status, SlideStatus::kFailed);
  EXPECT_NE(corrupt.error.find("corrupt.svs"), std::string::npos) << corrupt.error;
  const auto truncated = *store->slide("truncated");
  EXPECT_EQ(truncated.status, SlideStatus::kFailed);
  EXPECT_FALSE(truncated.error.empty());
  EXPECT_EQ(store->count_tiles("truncated"), 0u);
  EXPECT_EQ(store->slide("TCGA-AA-0001-01Z-00-DX1")->status, SlideStatus::kComplete);
}

TEST_F(IngestTest, ASlideWithCorruptTilesFailsNamedAndStoresNoTiles) {
  // Large enough for the thumbnail to come from an undamaged level, so that
  // the tiles themselves are what fails.
  auto spec = known_spec();
  spec.width = 6144, spec.height = 4096;
  const fs::path damaged = testing::make_slide(dir_ / "damaged", "damaged.tiff", spec);
  testing::damage_level0_tiles(damaged);
  const auto r = testing::run_tessera(
      {"ingest", "--store", (dir_ / "store").string(), "--slides", slide_.string(), damaged.string(), "--no-qc"});
  EXPECT_EQ(r.exit_code, 3) << r.output;  // some slides failed (README)
  EXPECT_NE(r.output.find("2 slides: 1 complete, 0 already complete, 1 failed"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("VIPS-WARNING"), std::string::npos) << r.output;

  store::StoreOptions ro;
  ro.read_only = true;
  const auto store = store::Store::open(dir_ / "store", ro);
  const auto record = *store->slide("damaged");
  EXPECT_EQ(record.status, SlideStatus::kFailed);
  EXPECT_NE(record.error.find(damaged.string() + ": cannot decode tile "), std::string::npos) << record.error;
  EXPECT_NE(record.error.find("JPEG"), std::string::npos) << record.error;  // libjpeg's own words
  EXPECT_NE(r.output.find(record.error), std::string::npos) << r.output;
  // The summary names the file once: the error starts with it already.
  EXPECT_NE(r.output.find("  failed: " + record.error), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find(damaged.string() + ": " + damaged.string()), std::string::npos) << r.output;
  EXPECT_EQ(store->count_tiles("damaged"), 0u);
  EXPECT_EQ(store->slide("TCGA-AA-0001-01Z-00-DX1")->status, SlideStatus::kComplete);
}

TEST_F(IngestTest, AnEmptySlideFileFailsAloneWithItsCause) {
  fs::create_directories(dir_ / "cohort");
  fs::copy_file(slide_, dir_ / "cohort" / slide_.filename());
  std::ofstream(dir_ / "cohort" / "empty.tiff").close();
  const auto summary = run_ingest(options_for(dir_ / "store", {(dir_ / "cohort").string()}));
  EXPECT_EQ(summary.complete, 1u);
  ASSERT_EQ(summary.failures.size(), 1u);
  EXPECT_EQ(summary.failures[0].second, (dir_ / "cohort" / "empty.tiff").string() + ": the file is empty (0 bytes)");
}

TEST_F(IngestTest, AGridOfMillionsOfTilesIsRefusedWithItsNumbers) {
  auto o = options_for(dir_ / "store", {slide_.string()});
  o.tile = 64;
  o.overlap = 63;
  const auto summary = run_ingest(o);
  EXPECT_EQ(summary.failed, 1u);
  ASSERT_EQ(summary.failures.size(), 1u);
  // 2048 x 1536 output pixels, stepping by 1: 1985 x 1473 tiles of 64.
  EXPECT_EQ(summary.failures[0].second,
            slide_.string() +
                ": --tile 64 --overlap 63 at 0.5 um/px makes a grid of 1985 x 1473 = 2923905 tiles (768 without "
                "overlap), more than the " +
                std::to_string(stages::kMaxGridTilesUnconfirmed) + " a slide may have without --allow-large-grid");
  EXPECT_EQ(stored_cells(dir_ / "store", "TCGA-AA-0001-01Z-00-DX1").size(), 0u);
}

TEST_F(IngestTest, ADifferentFileUnderAStoredSlidesIdIsReportedAsReplacingIt) {
  const auto first = run_ingest(options_for(dir_ / "store", {slide_.string()}));
  ASSERT_EQ(first.complete, 1u);
  EXPECT_TRUE(first.replaced.empty());
  auto spec = known_spec();
  spec.seed = 2;
  const auto other = testing::make_slide(dir_ / "rescanned", slide_.filename().string(), spec);
  const auto r =
      testing::run_tessera({"ingest", "--store", (dir_ / "store").string(), "--slides", other.string(), "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto replaced = testing::json_of(r)["replaced"];
  ASSERT_EQ(replaced.size(), 1u) << r.output;
  EXPECT_EQ(replaced[0]["id"], "TCGA-AA-0001-01Z-00-DX1");
  EXPECT_EQ(replaced[0]["stored_path"], slide_.string());
  EXPECT_EQ(replaced[0]["path"], other.string());
  EXPECT_EQ(replaced[0]["tiles_removed"], first.tiles_kept);
  const std::string removed = std::to_string(first.tiles_kept) + " tiles from " + slide_.string() + " removed, " +
                              other.string() + " stored in their place";
  EXPECT_NE(r.output.find("replaced: slide TCGA-AA-0001-01Z-00-DX1: " + removed), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("slide TCGA-AA-0001-01Z-00-DX1: " + other.string() + " is a different file from " +
                          slide_.string()),
            std::string::npos)
      << r.output;
  // The same file again, forced: nothing is replaced.
  auto again = options_for(dir_ / "store", {other.string()});
  again.force = true;
  EXPECT_TRUE(run_ingest(again).replaced.empty());
}

TEST_F(IngestTest, MissingResolutionFailsUnlessAssumed) {
  auto spec = testing::small_spec();
  spec.write_resolution = false;
  const auto bare = testing::make_slide(dir_.path(), "bare.tiff", spec);
  const auto failed = run_ingest(options_for(dir_ / "store", {bare.string()}));
  ASSERT_EQ(failed.failed, 1u);
  EXPECT_NE(failed.failures[0].second.find("no usable microns-per-pixel"), std::string::npos);

  auto o = options_for(dir_ / "store", {bare.string()});
  o.assume_mpp = 0.5;
  EXPECT_EQ(run_ingest(o).complete, 1u);
  const auto r = *store::Store::open(o.store)->slide("bare");
  EXPECT_EQ(r.mpp_source, "assumed");
  EXPECT_EQ(r.tiles_total, 48);
}

TEST_F(IngestTest, DuplicateSlideIdsFailTheSecondFile) {
  fs::create_directories(dir_ / "other");
  fs::copy_file(slide_, dir_ / "other" / slide_.filename());
  const auto summary =
      run_ingest(options_for(dir_ / "store", {slide_.string(), (dir_ / "other" / slide_.filename()).string()}));
  EXPECT_EQ(summary.complete, 1u);
  EXPECT_EQ(summary.failed, 1u);
  EXPECT_NE(summary.failures[0].second.find("is also the id of"), std::string::npos);
}

TEST_F(IngestTest, ResampledIngestHalvesTheGrid) {
  auto o = options_for(dir_ / "store", {slide_.string()});
  o.mpp = 1.0;
  run_ingest(o);
  const auto r = *store::Store::open(o.store)->slide("TCGA-AA-0001-01Z-00-DX1");
  EXPECT_DOUBLE_EQ(r.tile_mpp, 1.0);
  EXPECT_EQ(r.grid_cols, 4);  // 1024 output pixels
  EXPECT_EQ(r.grid_rows, 3);  // 768 output pixels
  auto store = store::Store::open(o.store);
  store->for_each_tile(r.id, [&](const store::TileKey& k, const store::TileRecord& t) {
    EXPECT_EQ(t.extent, 512);
    EXPECT_EQ(t.x, int64_t(k.col) * 512);
    const auto pixels = stages::decode_jpeg(*store->tile_pixels(r.id, k.row, k.col));
    EXPECT_EQ(pixels.width, 256);
  });
}

// A 40x scan laid out as Aperio's are: levels at 1x, 4x and 16x, so that
// 0.5 µm/px falls between levels 0 and 1 and every tile is resampled.
examples::SyntheticSlideSpec forty_x_spec() {
  auto spec = testing::small_spec();
  spec.width = 4096;
  spec.height = 3072;
  spec.mpp = 0.25;
  spec.level_downsamples = {1, 4, 16};
  return spec;
}

IngestOptions keeping_every_tile(IngestOptions o) {
  o.filter.min_tissue = 0;
  o.filter.max_background = 1;
  o.filter.max_pen = 1;
  o.filter.min_blur_variance = 0;
  o.write_qc = false;
  return o;
}

// Issue 14: 3 of 6 such runs of a 30,000^2 slide crashed in liborc's code
// allocator, which the libvips resample of every reader thread called at once
// (TileReader.ResamplesOnManyThreadsAtOnceGiveTheSerialPixels reproduces it
// in a few seconds).
TEST_F(IngestTest, A40xSlideTiledAt20xCompletesEveryRun) {
  const auto slide = testing::make_slide(dir_ / "40x", "forty.tiff", forty_x_spec());
  for (int run = 0; run < 20; ++run) {
    SCOPED_TRACE("run " + std::to_string(run));
    auto o = keeping_every_tile(options_for(dir_ / ("store" + std::to_string(run)), {slide.string()}));
    o.jobs = 8;
    const auto summary = run_ingest(o);
    ASSERT_EQ(summary.complete, 1u);
    const auto r = *store::Store::open(o.store)->slide("forty");
    EXPECT_EQ(r.level, 0);
    EXPECT_DOUBLE_EQ(r.resample, 2.0);
    EXPECT_EQ(r.tiles_kept, 8 * 6);
    fs::remove_all(o.store);
  }
}

// The tile at (row, col) of the slide's store, decoded.
stages::RgbImage stored_tile(const fs::path& store_dir, const std::string& id, uint32_t row, uint32_t col) {
  store::StoreOptions ro;
  ro.read_only = true;
  const auto pixels = store::Store::open(store_dir, ro)->tile_pixels(id, row, col);
  if (!pixels) throw Error("no tile " + std::to_string(row) + "," + std::to_string(col));
  return stages::decode_jpeg(*pixels);
}

TEST_F(IngestTest, DctScaledIngestRecordsItsMethodAndStoresTheSameGrid) {
  const auto slide = testing::make_slide(dir_ / "40x", "forty.tiff", forty_x_spec());
  auto lanczos = keeping_every_tile(options_for(dir_ / "lanczos", {slide.string()}));
  ASSERT_EQ(run_ingest(lanczos).complete, 1u);
  auto dct = keeping_every_tile(options_for(dir_ / "dct", {slide.string()}));
  dct.resample = stages::ResampleMethod::kDctScaled;
  ASSERT_EQ(run_ingest(dct).complete, 1u);

  const auto a = *store::Store::open(lanczos.store)->slide("forty");
  const auto b = *store::Store::open(dct.store)->slide("forty");
  EXPECT_EQ(a.resampling, "lanczos3");
  EXPECT_EQ(a.decode_scale, 1);
  EXPECT_DOUBLE_EQ(a.resample, 2.0);
  EXPECT_EQ(b.resampling, "dct-scaled");
  EXPECT_EQ(b.decode_scale, 2);
  EXPECT_DOUBLE_EQ(b.resample, 1.0);
  EXPECT_DOUBLE_EQ(b.tile_mpp, a.tile_mpp);
  EXPECT_EQ(b.grid_cols, a.grid_cols);
  EXPECT_EQ(b.grid_rows, a.grid_rows);
  EXPECT_EQ(b.tiles_kept, a.tiles_kept);
  EXPECT_NE(b.config_hash, a.config_hash);
  const auto info = testing::run_tessera({"info", "--store", dct.store.string()});
  EXPECT_NE(info.output.find("level 0 x2 (decoded at 1/2) -> 0.5000 um/px"), std::string::npos) << info.output;
  for (const auto& [row, col] : {std::pair{0u, 0u}, {3u, 4u}, {5u, 7u}}) {
    SCOPED_TRACE(std::to_string(row) + "," + std::to_string(col));
    EXPECT_GT(stages::psnr(stored_tile(lanczos.store, "forty", row, col), stored_tile(dct.store, "forty", row, col)),
              30.0);
  }
}

TEST_F(IngestTest, ChangingTheResamplingMethodRedoesTheSlide) {
  const auto slide = testing::make_slide(dir_ / "40x", "forty.tiff", forty_x_spec());
  auto o = keeping_every_tile(options_for(dir_ / "store", {slide.string()}));
  ASSERT_EQ(run_ingest(o).complete, 1u);
  const auto lanczos_hash = store::Store::open(o.store)->slide("forty")->config_hash;
  o.resample = stages::ResampleMethod::kDctScaled;
  ASSERT_EQ(run_ingest(o).complete, 1u) << "a store would mix methods";
  EXPECT_EQ(store::Store::open(o.store)->slide("forty")->resampling, "dct-scaled");
  EXPECT_EQ(run_ingest(o).skipped, 1u);
  o.resample = stages::ResampleMethod::kLanczos3;
  ASSERT_EQ(run_ingest(o).complete, 1u);
  const auto r = *store::Store::open(o.store)->slide("forty");
  EXPECT_EQ(r.resampling, "lanczos3");
  // Back to Lanczos3: the hash of the first run, and that record again.
  EXPECT_EQ(r.config_hash, lanczos_hash);
}

}  // namespace
}  // namespace tessera::pipeline
