// Real slides from ../shared/data; every test skips when it is absent.
#include <gtest/gtest.h>

#include "pipeline/ingest.h"
#include "slide/level_choice.h"
#include "slide/slide.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {

pipeline::IngestOptions options(const std::filesystem::path& store, const std::string& slide) {
  return testing::quiet_ingest(store, {slide});
}

TEST(RealSlides, CmuSmallRegionAtHalfMicronGivesAnEightByElevenGrid) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  testing::TempDir dir;
  const auto summary = pipeline::run_ingest(options(dir / "store", (data / "slides/CMU-1-Small-Region.svs").string()));
  ASSERT_EQ(summary.complete, 1u);
  auto store = store::Store::open(dir / "store");
  const auto r = *store->slide("CMU-1-Small-Region");
  EXPECT_EQ(r.vendor, "aperio");
  EXPECT_EQ(r.width, 2220);
  EXPECT_EQ(r.height, 2967);
  EXPECT_DOUBLE_EQ(r.mpp_x, 0.499);
  EXPECT_EQ(r.mpp_source, "openslide");
  // 0.499 is within 5% of 0.5: level 0's own pixels, no resampling.
  EXPECT_EQ(r.level, 0);
  EXPECT_DOUBLE_EQ(r.resample, 1.0);
  EXPECT_DOUBLE_EQ(r.tile_mpp, 0.499);
  // floor((2220 - 256) / 256) + 1 = 8 columns; floor((2967 - 256) / 256) + 1 = 11 rows.
  EXPECT_EQ(r.grid_cols, 8);
  EXPECT_EQ(r.grid_rows, 11);
  EXPECT_EQ(r.tiles_total, 88);
  int64_t rejected = 0;
  for (const auto& [rule, n] : r.rejected) rejected += n;
  EXPECT_EQ(r.tiles_kept + rejected, 88);
  // The tissue strip covers about a third of the region.
  EXPECT_GE(r.tiles_kept, 20);
  EXPECT_LE(r.tiles_kept, 50);
  EXPECT_EQ(store->count_tiles(r.id), uint64_t(r.tiles_kept));
}

TEST(RealSlides, CmuSmallRegionAtOneMicronIsResampled) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  testing::TempDir dir;
  auto o = options(dir / "store", (data / "slides/CMU-1-Small-Region.svs").string());
  o.mpp = 1.0;
  pipeline::run_ingest(o);
  const auto r = *store::Store::open(dir / "store")->slide("CMU-1-Small-Region");
  EXPECT_NEAR(r.resample, 1.0 / 0.499, 1e-12);
  // 2220 / 2.004 = 1107 and 2967 / 2.004 = 1480 output pixels: 4 x 5 tiles.
  EXPECT_EQ(r.grid_cols, 4);
  EXPECT_EQ(r.grid_rows, 5);
}

TEST(RealSlides, NdpiOpensAndPicksLevelOneForHalfMicron) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto slide = stages::Slide::open((data / "slides/stritt_test3-DAPI-2-387.ndpi").string());
  EXPECT_EQ(slide->property("openslide.vendor"), "hamamatsu");
  ASSERT_EQ(slide->levels().size(), 7u);
  const double base = std::stod(slide->property("openslide.mpp-x"));
  const auto half = stages::choose_level(slide->levels(), base, 0.5, 0.05);
  EXPECT_EQ(half.level, 1);  // 0.456 µm/px, then x1.096 with libvips
  const auto two = stages::choose_level(slide->levels(), base, 2.0, 0.05);
  EXPECT_EQ(two.level, 3);  // 1.825 µm/px

  testing::TempDir dir;
  const auto summary =
      pipeline::run_ingest(options(dir / "store", (data / "slides/stritt_test3-DAPI-2-387.ndpi").string()));
  ASSERT_EQ(summary.complete, 1u);
  const auto r = *store::Store::open(dir / "store")->slide("stritt_test3-DAPI-2-387");
  EXPECT_EQ(r.level, 1);
  EXPECT_EQ(r.tissue_method, "otsu-luminance");  // fluorescence: dark background
  EXPECT_EQ(r.grid_cols, 7);
  EXPECT_EQ(r.grid_rows, 8);
}

}  // namespace
}  // namespace tessera
