// Ingesting DICOM series: the same promises as every other format (resume, a
// failed slide recorded alone, QC, `info --json`), and CMU-1-Small-Region as
// DICOM against the same slide as SVS when ../shared is here.
#include <gtest/gtest.h>

#include <cmath>
#include <map>
#include <set>

#include "examples/dicom_series_writer.h"
#include "imaging/image_metrics.h"
#include "imaging/jpeg_codec.h"
#include "pipeline/ingest.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;

using Cell = std::pair<uint32_t, uint32_t>;

std::set<Cell> kept_cells(store::Store& store, const std::string& id) {
  std::set<Cell> cells;
  store.for_each_tile(id, [&](const store::TileKey& k, const store::TileRecord&) { cells.emplace(k.row, k.col); });
  return cells;
}

fs::path synthetic_series(const fs::path& folder, const examples::DicomSeriesSpec& spec = {}) {
  testing::TempDir scratch;
  const auto tiff = testing::make_slide(scratch.path(), "source.tiff", testing::small_spec());
  examples::write_dicom_series(examples::read_level0(tiff.string()), folder.string(), spec);
  return folder;
}

TEST(DicomIngest, ASeriesIngestsResumesAndShowsInInfo) {
  testing::TempDir dir;
  const auto series = synthetic_series(dir / "slides" / "TCGA-AA-0002-01Z-00-DX1");
  auto options = testing::quiet_ingest(dir / "store", {(dir / "slides").string()});
  options.qc_dir = (dir / "qc").string();
  const auto first = pipeline::run_ingest(options);
  EXPECT_EQ(first.complete, 1u);
  EXPECT_TRUE(fs::exists(dir / "qc" / "TCGA-AA-0002-01Z-00-DX1.png"));
  const auto second = pipeline::run_ingest(options);
  EXPECT_EQ(second.skipped, 1u);  // same series, same settings: nothing redone

  const auto info = testing::run_tessera({"info", "--store", (dir / "store").string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const auto slide = testing::json_of(info)["slides"].at(0);
  EXPECT_EQ(slide["id"], "TCGA-AA-0002-01Z-00-DX1");
  EXPECT_EQ(slide["vendor"], "dicom");
  EXPECT_EQ(slide["mpp_source"], "dicom");
  EXPECT_EQ(slide["path"], series.string());
  EXPECT_EQ(slide["level_count"], 2);
  EXPECT_EQ(slide["status"], "complete");
  EXPECT_GT(slide["tiles_kept"].get<int>(), 10);
}

TEST(DicomIngest, JpegFramesAreDecodedReducedForDctScaledResampling) {
  testing::TempDir dir;
  examples::DicomSeriesSpec spec;
  spec.downsamples = {1};
  synthetic_series(dir / "slides" / "one-level", spec);
  auto options = testing::quiet_ingest(dir / "store", {(dir / "slides").string()});
  options.mpp = 1.0;
  options.resample = stages::ResampleMethod::kDctScaled;
  ASSERT_EQ(pipeline::run_ingest(options).complete, 1u);
  const auto stored = store::Store::open(dir / "store")->slide("one-level");  // a one-file series, named by its folder
  ASSERT_TRUE(stored);
  const auto& r = *stored;
  EXPECT_EQ(r.level, 0);
  EXPECT_EQ(r.decode_scale, 2);  // 0.5 -> 1 µm/px: the frames decoded at 1/2, nothing left to resample
  EXPECT_DOUBLE_EQ(r.resample, 1.0);
  EXPECT_EQ(r.grid_cols, 2048 / 2 / 256);
}

TEST(DicomIngest, ABrokenSeriesFailsAloneInABatch) {
  testing::TempDir dir;
  examples::DicomSeriesSpec broken;
  broken.drop_last_frame = true;
  synthetic_series(dir / "slides" / "good");
  synthetic_series(dir / "slides" / "short", broken);
  const auto summary = pipeline::run_ingest(testing::quiet_ingest(dir / "store", {(dir / "slides").string()}));
  EXPECT_EQ(summary.complete, 1u);
  ASSERT_EQ(summary.failures.size(), 1u);
  EXPECT_NE(summary.failures[0].second.find("needs 48 frames"), std::string::npos) << summary.failures[0].second;
  const auto failed = store::Store::open(dir / "store")->slide("short");
  ASSERT_TRUE(failed);
  EXPECT_EQ(failed->status, store::SlideStatus::kFailed);
}

TEST(DicomIngest, CmuSmallRegionAsDicomAndAsSvsGiveTheSameTiles) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  testing::TempDir dir;
  const std::string svs_id = "CMU-1-Small-Region", dicom_id = "dicom-cmu-1-small-region";
  const auto summary =
      pipeline::run_ingest(testing::quiet_ingest(dir / "store", {(data / "slides/CMU-1-Small-Region.svs").string(),
                                                                 (data / "slides/dicom-cmu-1-small-region").string()}));
  ASSERT_EQ(summary.complete, 2u);
  auto store = store::Store::open(dir / "store");
  const auto svs = *store->slide(svs_id);
  const auto dicom = *store->slide(dicom_id);
  EXPECT_EQ(dicom.vendor, "dicom");
  EXPECT_EQ(dicom.mpp_source, "dicom");
  EXPECT_DOUBLE_EQ(dicom.mpp_x, svs.mpp_x);
  EXPECT_EQ(dicom.grid_cols, svs.grid_cols);
  EXPECT_EQ(dicom.grid_rows, svs.grid_rows);
  EXPECT_EQ(dicom.level, svs.level);
  // The tissue mask sees the converter's re-encoded pixels: a tile at the
  // mask's edge may go either way.
  const auto svs_cells = kept_cells(*store, svs_id), dicom_cells = kept_cells(*store, dicom_id);
  std::vector<Cell> differ;
  std::set_symmetric_difference(svs_cells.begin(), svs_cells.end(), dicom_cells.begin(), dicom_cells.end(),
                                std::back_inserter(differ));
  EXPECT_LE(differ.size(), 2u);
  // Pooled over the tiles both kept: the mean squared error of every pixel.
  double squared = 0;
  size_t values = 0;
  for (const auto& [row, col] : svs_cells) {
    if (!dicom_cells.count({row, col})) continue;
    const auto a = stages::decode_jpeg(*store->tile_pixels(svs_id, row, col));
    const auto b = stages::decode_jpeg(*store->tile_pixels(dicom_id, row, col));
    for (size_t i = 0; i < a.pixels.size(); ++i) {
      const double d = double(a.pixels[i]) - double(b.pixels[i]);
      squared += d * d;
    }
    values += a.pixels.size();
  }
  ASSERT_GT(values, 0u);
  const double pooled_psnr = 10 * std::log10(255.0 * 255.0 / (squared / double(values)));
  // 28.0 dB: the converter re-encoded the SVS's 4:4:4 RGB tiles as 4:2:0
  // YCbCr JPEG, and what 4:2:0 drops no decoder brings back; luma alone is
  // 38 dB, Cb and Cr 32 dB (docs/BENCHMARKS.md, "DICOM").
  EXPECT_GE(pooled_psnr, 27.5);
}

}  // namespace
}  // namespace tessera
