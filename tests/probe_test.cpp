// `tessera probe`: a cohort checked before a night is spent on it.
#include "pipeline/probe.h"

#include <gtest/gtest.h>

#include <fstream>
#include <set>

#include "base/file_io.h"
#include "examples/dicom_series_writer.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;

const nlohmann::json* slide_with_path(const nlohmann::json& report, const fs::path& path) {
  for (const auto& s : report["slides"]) {
    if (s["path"] == path.string()) return &s;
  }
  ADD_FAILURE() << "no slide " << path << " in the report";
  return nullptr;
}

std::set<std::string> problems_of(const nlohmann::json& slide) {
  std::set<std::string> kinds;
  for (const auto& p : slide["problems"]) kinds.insert(p["problem"].get<std::string>());
  return kinds;
}

std::set<fs::path> everything_under(const fs::path& dir) {
  std::set<fs::path> paths;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) paths.insert(entry.path());
  return paths;
}

TEST(Probe, NamesEveryProblemOfACohortAndWritesNothing) {
  testing::TempDir dir;
  const fs::path cohort = dir / "cohort";
  const auto good = testing::make_slide(cohort, "TCGA-AA-0001-01Z-00-DX1.tiff", testing::small_spec());
  fs::create_directories(cohort / "again");
  fs::copy_file(good, cohort / "again" / good.filename());  // a second file with the same id
  auto no_mpp = testing::small_spec();
  no_mpp.write_resolution = false;
  testing::make_slide(cohort, "unscaled.tiff", no_mpp);
  std::ofstream(cohort / "olympus.vsi") << "VSI header";
  std::ofstream(cohort / "cut.svs") << "II*";
  examples::DicomSeriesSpec spec;
  spec.label = true;
  const auto pixels = examples::read_level0(good.string());
  examples::write_dicom_series(pixels, (cohort / "series").string(), spec);
  // The series' label alone, given as a slide of its own.
  fs::create_directories(dir / "labels");
  fs::copy_file(cohort / "series" / "label.dcm", dir / "labels" / "label.dcm");
  const auto before = everything_under(dir.path());

  const auto result = testing::run_tessera(
      {"probe", cohort.string(), (dir / "labels" / "label.dcm").string(), "--mpp", "2", "--tile", "64", "--json"});
  EXPECT_EQ(result.exit_code, 3) << result.output;
  const auto report = testing::json_of(result);
  EXPECT_EQ(everything_under(dir.path()), before);  // no store, no QC, nothing

  const auto* first = slide_with_path(report, good);
  ASSERT_TRUE(first);
  EXPECT_TRUE((*first)["would_ingest"]);
  EXPECT_EQ((*first)["vendor"], "generic-tiff");
  EXPECT_EQ((*first)["read_path"], "direct-tiff");
  EXPECT_EQ((*first)["mpp_source"], "tiff-resolution");
  EXPECT_EQ((*first)["grid_cols"], 2048 / 4 / 64);
  EXPECT_EQ((*first)["grid_rows"], 1536 / 4 / 64);
  EXPECT_GT((*first)["tiles_estimated"].get<int>(), 0);
  EXPECT_LT((*first)["tiles_estimated"].get<int>(), (*first)["tiles_total"].get<int>());
  EXPECT_GT((*first)["bytes_estimated"].get<int64_t>(), 0);

  const auto* again = slide_with_path(report, cohort / "again" / good.filename());
  EXPECT_EQ(problems_of(*again), std::set<std::string>{"duplicate_id"});
  const auto* unscaled = slide_with_path(report, cohort / "unscaled.tiff");
  EXPECT_EQ(problems_of(*unscaled), std::set<std::string>{"no_mpp"});
  const auto* vsi = slide_with_path(report, cohort / "olympus.vsi");
  EXPECT_EQ(problems_of(*vsi), std::set<std::string>{"unsupported"});
  EXPECT_NE((*vsi)["problems"][0]["message"].get<std::string>().find("Olympus/Evident VSI"), std::string::npos);
  const auto* cut = slide_with_path(report, cohort / "cut.svs");
  EXPECT_EQ(problems_of(*cut), std::set<std::string>{"unreadable"});
  const auto* label = slide_with_path(report, dir / "labels" / "label.dcm");
  EXPECT_EQ(problems_of(*label), std::set<std::string>{"associated_image"});
  const auto* series = slide_with_path(report, cohort / "series");
  EXPECT_TRUE((*series)["would_ingest"]);
  EXPECT_EQ((*series)["vendor"], "dicom");
  EXPECT_EQ((*series)["read_path"], "dicom");
  EXPECT_EQ((*series)["files"].size(), 3u);  // two levels and the label, which stays out of the pyramid
  EXPECT_EQ((*series)["level_count"], 2);

  const auto& totals = report["totals"];
  EXPECT_EQ(totals["slides"], 7);
  EXPECT_EQ(totals["would_ingest"], 2);
  EXPECT_EQ(totals["would_fail"], 5);
  EXPECT_EQ(totals["problems"]["duplicate_id"], 1);
  EXPECT_EQ(totals["formats"]["dicom"], 1);
  EXPECT_EQ(totals["formats"]["generic-tiff"], 3);
  EXPECT_EQ(totals["formats"][""], 3);  // the VSI, the cut file and the label did not open
  EXPECT_EQ(totals["tiles_estimated"],
            (*first)["tiles_estimated"].get<int>() + (*series)["tiles_estimated"].get<int>());
}

TEST(Probe, ItsEstimateIsWhatIngestReads) {
  testing::TempDir dir;
  const auto slide = testing::make_slide(dir / "cohort", "TCGA-AA-0001-01Z-00-DX1.tiff", testing::small_spec());
  const auto probe = testing::run_tessera({"probe", slide.string(), "--mpp", "1", "--tile", "128", "--json"});
  ASSERT_EQ(probe.exit_code, 0) << probe.output;
  const auto estimate = testing::json_of(probe)["slides"][0];
  const auto ingest = testing::run_tessera({"ingest", "--store", (dir / "store").string(), "--slides", slide.string(),
                                            "--mpp", "1", "--tile", "128", "--no-qc", "--json"});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.output;
  const auto summary = testing::json_of(ingest);
  // Both count the grid cells the tissue mask passes; the probe's mask comes
  // from a smaller thumbnail (pipeline::kProbeThumbnailSide).
  const double read = summary["tiles_read"].get<double>();
  EXPECT_NEAR(estimate["tiles_estimated"].get<double>(), read, 0.1 * read);
  const auto info = testing::json_of(testing::run_tessera({"info", "--store", (dir / "store").string(), "--json"}));
  const auto& stored = info["slides"][0];
  for (const char* field :
       {"id", "vendor", "width", "height", "level_count", "mpp", "mpp_source", "level", "level_downsample",
        "decode_scale", "resample", "tile_mpp", "grid_cols", "grid_rows", "tiles_total"}) {
    EXPECT_EQ(estimate[field], stored[field]) << field;
  }
}

TEST(Probe, FlagsAMagnificationFarFromTheCohortsButWouldIngestIt) {
  testing::TempDir dir;
  for (const char* name : {"a.tiff", "b.tiff", "c.tiff"})
    testing::make_slide(dir / "cohort", name, testing::small_spec());
  auto fine = testing::small_spec();
  fine.mpp = 0.25;
  testing::make_slide(dir / "cohort", "forty.tiff", fine);
  const auto result = testing::run_tessera({"probe", (dir / "cohort").string(), "--mpp", "2", "--tile", "64"});
  EXPECT_EQ(result.exit_code, 0) << result.output;
  EXPECT_NE(result.output.find("unusual_magnification: level 0 is 0.25 um/px (about 40x); the cohort's usual is 0.5 "
                               "um/px (about 20x)"),
            std::string::npos)
      << result.output;
  EXPECT_NE(result.output.find("probe: 4 slides (generic-tiff 4): 4 would ingest, 0 would fail"), std::string::npos)
      << result.output;
}

TEST(Probe, TheSchemaListsEveryFieldAndProblem) {
  const auto schema = nlohmann::json::parse(read_file(std::string(TESSERA_SOURCE_DIR) + "/schemas/probe.schema.json"));
  testing::TempDir dir;
  const auto slide = testing::make_slide(dir.path(), "one.tiff", testing::small_spec());
  const auto report = testing::json_of(testing::run_tessera({"probe", slide.string(), "--json"}));
  const auto& slide_schema = schema["properties"]["slides"]["items"];
  std::set<std::string> required(slide_schema["required"].begin(), slide_schema["required"].end());
  std::set<std::string> printed;
  for (const auto& [key, value] : report["slides"][0].items()) printed.insert(key);
  EXPECT_EQ(printed, required);
  std::set<std::string> kinds;
  for (const auto& p : slide_schema["properties"]["problems"]["items"]["properties"]["problem"]["enum"]) {
    kinds.insert(p.get<std::string>());
  }
  std::set<std::string> named;
  for (int p = 0; p <= int(pipeline::ProbeProblem::kReaderWarning); ++p) {
    named.insert(pipeline::to_string(pipeline::ProbeProblem(p)));
  }
  EXPECT_EQ(kinds, named);
}

}  // namespace
}  // namespace tessera
