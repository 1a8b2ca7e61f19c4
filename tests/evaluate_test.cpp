// `tessera evaluate`: what it compares, what it caches, what it writes, and
// how it resumes, on stores and synthetic sets made here; and the reference
// values of ../shared/data/eval through the command.

#include <gtest/gtest.h>

#include <cstdio>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>
#include <set>

#include "base/file_io.h"
#include "imaging/image_file.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "pipeline/export.h"
#include "runtime/example_extractor.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::json_of;
using testing::run_tessera;

constexpr int kSide = 64;
constexpr int kCases = 10;
constexpr int kTilesPerSlide = 12;

// Textured noise around a colour: tiles of one bin look alike, bins differ.
stages::RgbImage textured_tile(std::mt19937& random, int red, int green, int blue) {
  stages::RgbImage image(kSide, kSide);
  std::normal_distribution<double> noise(0, 28);
  for (int y = 0; y < kSide; ++y) {
    for (int x = 0; x < kSide; ++x) {
      const double wave = 25 * std::sin((x + 2 * y) * 0.3);
      const int base[3] = {red, green, blue};
      for (int c = 0; c < 3; ++c) image.at(x, y)[c] = uint8_t(std::clamp(base[c] + wave + noise(random), 0.0, 255.0));
    }
  }
  return image;
}

std::string padded_prompt_id(char c) { return std::string(32, c); }

// kCases cases of one slide each; the tiles of even cases are "high" tumour
// (pink), of odd ones "low" (purple).
fs::path make_store(const fs::path& dir) {
  auto store = store::Store::open(dir);
  std::mt19937 random(3);
  for (int c = 0; c < kCases; ++c) {
    const std::string bin = c % 2 ? "low" : "high";
    const std::string case_id = "TCGA-EV-000" + std::to_string(c);
    store::SlideRecord r;
    r.id = case_id + "-01Z-00-DX1";
    r.case_id = case_id;
    r.tile_size = kSide;
    r.codec = "jpeg";
    store->reset_slide(r);
    auto writer = store->slide_writer(r.id);
    store::PromptRecord p;
    p.id = padded_prompt_id(bin == "high" ? 'a' : 'b');
    p.text = bin + " tumor";
    p.tumor = bin;
    p.til = "low";
    p.token_ids = {49406, 1, 49407};
    writer.add_prompt(p);
    for (int i = 0; i < kTilesPerSlide; ++i) {
      store::TileRecord t;
      t.extent = t.size = kSide;
      t.mpp = 0.5f;
      t.prompt_id = p.id;
      const auto tile = bin == "high" ? textured_tile(random, 220, 120, 170) : textured_tile(random, 120, 80, 170);
      writer.add(uint32_t(i / 4), uint32_t(i % 4), t, stages::encode_jpeg(tile, {}));
    }
    r.status = store::SlideStatus::kComplete;
    r.tiles_kept = kTilesPerSlide;
    writer.commit(r);
  }
  return dir;
}

// A synthetic set as generate writes it: `images` with manifest rows whose
// bins alternate and whose denoiser is one of two runs.
fs::path make_synthetic(const fs::path& dir, const std::vector<stages::RgbImage>& images) {
  fs::create_directories(dir / "images");
  std::ofstream manifest(dir / "manifest.jsonl");
  for (size_t i = 0; i < images.size(); ++i) {
    char file[32];
    std::snprintf(file, sizeof file, "images/%06zu.png", i);
    stages::save_png(images[i], (dir / file).string());
    const std::string bin = i % 2 ? "low" : "high";
    json line = {{"file", file},
                 {"prompt", bin + " tumor; low til"},
                 {"prompt_id", padded_prompt_id(bin == "high" ? 'a' : 'b')},
                 {"seed", 0},
                 {"index", i},
                 {"fields", {{"tumor", bin}, {"til", "low"}}},
                 {"model_ids",
                  {{"unet", std::string(32, i < images.size() / 2 ? '1' : '2')},
                   {"first_stage", std::string(32, '3')},
                   {"cond_stage", std::string(32, '4')}}},
                 {"sampler", {{"name", "ddim"}, {"steps", 50}, {"eta", 0}, {"guidance", 1.5}}},
                 {"synthetic", true}};
    manifest << line.dump() << '\n';
  }
  return dir;
}

std::vector<stages::RgbImage> generated_like(size_t count, uint32_t seed) {
  std::mt19937 random(seed);
  std::vector<stages::RgbImage> images;
  for (size_t i = 0; i < count; ++i) {
    images.push_back(i % 2 ? textured_tile(random, 130, 85, 160) : textured_tile(random, 210, 125, 165));
  }
  return images;
}

class EvaluateTest : public ::testing::Test {
 protected:
  void SetUp() override {
    stages::ensure_vips();
    extractor_ = dir_ / "extractor.pt";
    runtime::write_example_extractor(extractor_, 5);
    store_ = make_store(dir_ / "store");
  }

  std::vector<std::string> args(const fs::path& synthetic, const fs::path& out,
                                std::vector<std::string> more = {}) const {
    std::vector<std::string> a = {"evaluate",
                                  "--extractor",
                                  extractor_.string(),
                                  "--synthetic",
                                  synthetic.string(),
                                  "--real-store",
                                  store_.string(),
                                  "--out",
                                  out.string(),
                                  "--progress",
                                  "lines",
                                  "--json"};
    a.insert(a.end(), more.begin(), more.end());
    return a;
  }

  // The cases export puts in val, by the same rule.
  std::set<std::string> val_cases() const {
    std::set<std::string> cases;
    for (int c = 0; c < kCases; ++c) cases.insert("TCGA-EV-000" + std::to_string(c));
    return pipeline::choose_val_groups(cases, pipeline::ExportOptions().val, 0);
  }

  testing::TempDir dir_;
  fs::path extractor_, store_;
};

TEST_F(EvaluateTest, ComparesWithHeldOutCasesPerBinAndModelAndCachesTheRealFeaturesInTheStore) {
  const auto synthetic = make_synthetic(dir_ / "synthetic", generated_like(40, 9));
  const auto first = run_tessera(args(synthetic, dir_ / "eval", {"--metrics", "kid,prdc", "--k", "3"}));
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto report = json_of(first);
  const size_t val_tiles = val_cases().size() * kTilesPerSlide;
  ASSERT_EQ(val_cases().size(), 1u) << "a tenth of ten cases";
  EXPECT_EQ(report["real"]["split"], "val");
  EXPECT_EQ(report["real"]["samples"], val_tiles) << "only tiles of the cases the model did not train on";
  EXPECT_EQ(report["synthetic"]["samples"], 40);
  EXPECT_EQ(report["synthetic"]["kind"], "synthetic-set");
  EXPECT_EQ(report["synthetic"]["model_ids"]["unet"].size(), 2u);
  EXPECT_TRUE(report["codec_mismatch"].get<bool>()) << "png against the store's jpeg";
  EXPECT_EQ(report["k"], 3);
  EXPECT_FALSE(report["overall"].contains("fid"));
  EXPECT_GT(report["overall"]["kid"]["mean"].get<double>(), -1.0);
  for (const char* name : {"precision", "recall", "density", "coverage"}) {
    const double v = report["overall"][name].get<double>();
    EXPECT_GE(v, 0.0) << name;
  }
  // Per bin: the synthetic "high" images against the real "high" tiles.
  ASSERT_TRUE(report["by_tumor"].contains("high"));
  ASSERT_TRUE(report["by_tumor"].contains("low"));
  EXPECT_EQ(report["by_tumor"]["high"]["synthetic"], 20);
  const bool val_case_is_high = (std::stoi(val_cases().begin()->substr(10)) % 2) == 0;
  EXPECT_EQ(report["by_tumor"][val_case_is_high ? "high" : "low"]["real"], val_tiles);
  EXPECT_EQ(report["by_tumor"][val_case_is_high ? "low" : "high"]["reference"],
            "every real sample (none has this bin)");
  EXPECT_EQ(report["by_model"].size(), 2u) << "the set mixes two runs";
  EXPECT_EQ(report["by_model"][std::string(32, '1')]["synthetic"], 20);
  // The memorisation audit: against the training cases' tiles.
  EXPECT_TRUE(report["memorization"]["measured"].get<bool>());
  EXPECT_EQ(report["memorization"]["train_tiles"], kCases * kTilesPerSlide - val_tiles);
  EXPECT_EQ(report["memorization"]["closest"].size(), 8u);
  for (const char* file : {"evaluation.json", "metrics.png", "nearest.png"}) {
    EXPECT_TRUE(fs::is_regular_file(dir_ / "eval" / file)) << file;
  }
  EXPECT_EQ(json::parse(read_file(dir_ / "eval" / "evaluation.json")), report);
  const auto nearest = stages::read_image((dir_ / "eval" / "nearest.png").string());
  EXPECT_EQ(nearest.width, 2 * kSide + 4) << "synthetic and training tile side by side";
  EXPECT_EQ(report["features"]["extracted"], 40 + kCases * kTilesPerSlide);

  // The store lists the extractor with the features of every tile it saw.
  const auto info = json_of(run_tessera({"info", "--store", store_.string(), "--json"}));
  ASSERT_EQ(info["models"].size(), 1u);
  EXPECT_EQ(info["models"][0]["role"], "feature_extractor");
  EXPECT_EQ(info["models"][0]["id"], report["extractor"]["id"]);
  EXPECT_EQ(info["models"][0]["features"], kCases * kTilesPerSlide);

  // A second synthetic set extracts nothing new on the real side.
  const auto other = make_synthetic(dir_ / "synthetic-2", generated_like(30, 10));
  const auto second = json_of(run_tessera(args(other, dir_ / "eval-2", {"--metrics", "kid,prdc", "--k", "3"})));
  EXPECT_EQ(second["features"]["extracted"], 30);
  EXPECT_EQ(second["features"]["cached"], kCases * kTilesPerSlide);
  // And evaluating the first set again extracts nothing at all, and gives the same numbers.
  const auto again = json_of(run_tessera(args(synthetic, dir_ / "eval", {"--metrics", "kid,prdc", "--k", "3"})));
  EXPECT_EQ(again["features"]["extracted"], 0);
  EXPECT_EQ(again["overall"], report["overall"]);
  EXPECT_EQ(again["memorization"], report["memorization"]);

  // gc removes the features with their extractor.
  auto store = store::Store::open(store_);
  const auto removed = store->gc({});
  EXPECT_EQ(removed.features_removed, kCases * kTilesPerSlide);
  EXPECT_EQ(store->count_features(report["extractor"]["id"].get<std::string>()), 0u);
  EXPECT_TRUE(store->models().empty());
}

TEST_F(EvaluateTest, TheMemorisationAuditFlagsCopiesOfTrainingTiles) {
  // "Synthetic" images that are the training tiles themselves, decoded.
  std::vector<stages::RgbImage> copies;
  const auto val = val_cases();
  {
    auto store = store::Store::open(store_, {true});
    for (const auto& slide : store->slides()) {
      if (val.count(slide.case_id)) continue;
      store->for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord&) {
        if (copies.size() < 40)
          copies.push_back(stages::decode_jpeg(*store->tile_pixels(key.slide_id, key.row, key.col)));
      });
    }
  }
  const auto copied =
      json_of(run_tessera(args(make_synthetic(dir_ / "copies", copies), dir_ / "eval-copies", {"--metrics", "kid"})));
  EXPECT_EQ(copied["memorization"]["share_below"], 1.0) << copied["memorization"].dump(2);
  EXPECT_EQ(copied["memorization"]["closest"][0]["distance"], 0.0);
  const auto fresh = json_of(run_tessera(
      args(make_synthetic(dir_ / "fresh", generated_like(40, 11)), dir_ / "eval-fresh", {"--metrics", "kid"})));
  EXPECT_LT(fresh["memorization"]["share_below"].get<double>(), 0.2) << fresh["memorization"].dump(2);
}

TEST_F(EvaluateTest, AKilledRunResumesFromItsCachedFeaturesAndEndsAsAWholeRunDoes) {
  const auto synthetic = make_synthetic(dir_ / "synthetic", generated_like(40, 9));
  const auto real = dir_ / "real";
  fs::create_directories(real);
  const auto real_images = generated_like(50, 12);
  for (size_t i = 0; i < real_images.size(); ++i) {
    stages::save_png(real_images[i], (real / ("tile-" + std::to_string(100 + i) + ".png")).string());
  }
  const std::vector<std::string> common = {
      "evaluate", "--extractor", extractor_.string(), "--synthetic", synthetic.string(), "--real", real.string(),
      "--batch",  "8",           "--metrics",         "kid,prdc",    "--progress",       "lines",  "--json"};
  auto killed = common;
  killed.insert(killed.end(), {"--out", (dir_ / "killed").string()});
  const auto crash = run_tessera(killed, {"TESSERA_CRASH_AT=evaluate.batch_stored:8"});
  ASSERT_EQ(crash.exit_code, 128 + 9) << crash.output;
  EXPECT_FALSE(fs::exists(dir_ / "killed" / "evaluation.json"));
  const auto resumed = json_of(run_tessera(killed));
  EXPECT_EQ(resumed["features"]["cached"], 40 + 3 * 8) << "5 synthetic batches, then 3 real ones, were kept";
  EXPECT_EQ(resumed["features"]["extracted"], 90 - (40 + 3 * 8));
  auto whole_args = common;
  whole_args.insert(whole_args.end(), {"--out", (dir_ / "whole").string()});
  const auto whole = json_of(run_tessera(whole_args));
  EXPECT_EQ(resumed["overall"], whole["overall"]);
  EXPECT_EQ(resumed["memorization"]["measured"], false);
}

TEST_F(EvaluateTest, WebDatasetShardsGiveTheSamplesOfTheirSideAndTheSameMetrics) {
  const auto synthetic = make_synthetic(dir_ / "synthetic", generated_like(40, 9));
  const auto exported =
      run_tessera({"export", "--store", store_.string(), "--out", (dir_ / "wds").string(), "--format", "webdataset",
                   "--synthetic", synthetic.string(), "--shard-bytes", "200000", "--progress", "quiet"});
  ASSERT_EQ(exported.exit_code, 0) << exported.output;
  std::vector<std::string> shards;
  for (const auto& e : fs::directory_iterator(dir_ / "wds")) {
    if (e.path().extension() == ".tar") shards.push_back(e.path().string());
  }
  ASSERT_GT(shards.size(), 1u);
  // One folder of shards for the real side, the shard files themselves for the synthetic one.
  std::vector<std::string> a = {"evaluate",
                                "--extractor",
                                extractor_.string(),
                                "--real",
                                (dir_ / "wds").string(),
                                "--out",
                                (dir_ / "eval-wds").string(),
                                "--metrics",
                                "prdc",
                                "--progress",
                                "quiet",
                                "--json",
                                "--synthetic"};
  a.insert(a.end(), shards.begin(), shards.end());
  const auto from_shards = run_tessera(a);
  ASSERT_EQ(from_shards.exit_code, 0) << from_shards.output;
  const auto shard_report = json_of(from_shards);
  EXPECT_EQ(shard_report["synthetic"]["kind"], "shards");
  EXPECT_EQ(shard_report["synthetic"]["samples"], 40) << "export's real tiles are left out of the synthetic side";
  EXPECT_EQ(shard_report["real"]["samples"], kCases * kTilesPerSlide) << "and its synthetic images of the real one";
  EXPECT_EQ(shard_report["synthetic"]["model_ids"]["unet"].size(), 2u);
  EXPECT_EQ(shard_report["by_tumor"]["high"]["synthetic"], 20) << "bins come from the samples' .json";
  const auto direct =
      json_of(run_tessera(args(synthetic, dir_ / "eval-direct", {"--split", "all", "--metrics", "prdc"})));
  for (const char* name : {"precision", "recall", "density", "coverage"}) {
    EXPECT_EQ(shard_report["overall"][name], direct["overall"][name]) << name << ": the same pixels either way";
  }
}

TEST_F(EvaluateTest, BadInputsAreNamed) {
  fs::create_directories(dir_ / "empty");
  auto r = run_tessera(args(dir_ / "empty", dir_ / "out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find((dir_ / "empty").string() + ": holds no .png, .jpg or .jpeg image"), std::string::npos)
      << r.output;
  const auto synthetic = make_synthetic(dir_ / "synthetic", generated_like(8, 1));
  std::ofstream(dir_ / "broken.pt") << "not TorchScript";
  auto a = args(synthetic, dir_ / "out");
  a[2] = (dir_ / "broken.pt").string();
  r = run_tessera(a);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("broken.pt: not a TorchScript file"), std::string::npos) << r.output;
  // FID of fewer samples than dimensions: said, with KID suggested.
  r = run_tessera(args(synthetic, dir_ / "out"));
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("singular covariance"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("--metrics kid,prdc"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir_ / "out" / "evaluation.json"));
  // A store of one case has no held-out tiles.
  auto single = store::Store::open(dir_ / "single");
  single.reset();
  a = args(synthetic, dir_ / "out");
  a[6] = (dir_ / "single").string();
  r = run_tessera(a);
  EXPECT_NE(r.exit_code, 0);
  EXPECT_NE(r.output.find("--split all"), std::string::npos) << r.output;
}

TEST(EvaluateReference, ThePngFoldersGiveTheReferenceProjectsValues) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto eval = data / "eval";
  std::ifstream in(eval / "reference.json");
  const auto ref = json::parse(in);
  testing::TempDir dir;
  for (const int k : {3, 5}) {
    const auto out = dir / ("k" + std::to_string(k));
    const auto r = run_tessera({"evaluate", "--extractor", (eval / "extractor.pt").string(), "--synthetic",
                                (eval / "synthetic").string(), "--real", (eval / "real").string(), "--out",
                                out.string(), "--k", std::to_string(k), "--progress", "quiet", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto report = json_of(r);
    const auto& overall = report["overall"];
    EXPECT_NEAR(overall["fid"].get<double>(), ref["fid"].get<double>(), 1e-4 * ref["fid"].get<double>());
    EXPECT_NEAR(overall["kid"]["mean"].get<double>(), ref["kid"].get<double>(), 1e-4 * ref["kid"].get<double>());
    const auto& prdc = ref["prdc"]["k" + std::to_string(k)];
    for (const char* name : {"precision", "recall", "density", "coverage"}) {
      EXPECT_NEAR(overall[name].get<double>(), prdc[name].get<double>(), 1e-12) << name << " k=" << k;
    }
    EXPECT_EQ(report["codec_mismatch"], false);
    EXPECT_EQ(report["memorization"]["measured"], false);
    EXPECT_FALSE(fs::exists(out / "nearest.png"));
  }
}

}  // namespace
}  // namespace tessera
