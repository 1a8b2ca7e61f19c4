// The evaluation metrics and the TorchScript feature extractor, against the
// values the reference projects compute (../shared/data/eval/README.md).

#include "runtime/feature_metrics.h"

#include <gtest/gtest.h>
#include <torch/script.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "base/error.h"
#include "imaging/image_file.h"
#include "model/safetensors.h"
#include "runtime/feature_extractor.h"
#include "test_data.h"
#include "test_support.h"

namespace tessera::runtime {
namespace {

FeatureMatrix stored_features(const std::filesystem::path& eval, const std::string& name) {
  const auto file = model::SafetensorsFile::open((eval / "features.safetensors").string());
  const auto* t = file.find(name);
  EXPECT_NE(t, nullptr) << name;
  FeatureMatrix m;
  m.rows = size_t(t->shape.at(0));
  m.dim = size_t(t->shape.at(1));
  m.values = t->to_float64();
  return m;
}

nlohmann::json reference(const std::filesystem::path& eval) {
  std::ifstream in(eval / "reference.json");
  return nlohmann::json::parse(in);
}

FeatureMatrix random_features(size_t rows, size_t dim, uint64_t seed, double shift = 0) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal(shift, 1.0);
  FeatureMatrix m{rows, dim, {}};
  for (size_t i = 0; i < rows * dim; ++i) m.values.push_back(normal(random));
  return m;
}

void expect_relative(double actual, double expected, double tolerance, const char* what) {
  EXPECT_NEAR(actual, expected, std::abs(expected) * tolerance) << what;
}

TEST(FeatureMetrics, MatchThePublishedReferenceOnTheStoredFeatures) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto eval = data / "eval";
  const auto ref = reference(eval);
  const auto real = stored_features(eval, "real");
  const auto synthetic = stored_features(eval, "synthetic");
  ASSERT_EQ(real.rows, 48u);
  ASSERT_EQ(real.dim, 32u);
  expect_relative(frechet_distance(real, synthetic), ref["fid"].get<double>(), 1e-6, "fid");
  EXPECT_NEAR(frechet_distance(real, real), 0.0, 1e-6);
  const auto kid = kernel_distance(real, synthetic);
  expect_relative(kid.mean, ref["kid"].get<double>(), 1e-6, "kid");
  EXPECT_EQ(kid.subset_size, 48u);
  EXPECT_NEAR(kid.std, 0.0, 1e-9) << "with equal sets every subset is the whole set";
  for (const int k : {3, 5}) {
    const auto expected = ref["prdc"]["k" + std::to_string(k)];
    const auto r = precision_recall(real, synthetic, k);
    const double one_sample = 1.0 / 48;
    EXPECT_NEAR(r.precision, expected["precision"].get<double>(), one_sample * 0.5) << "k=" << k;
    EXPECT_NEAR(r.recall, expected["recall"].get<double>(), one_sample * 0.5) << "k=" << k;
    EXPECT_NEAR(r.density, expected["density"].get<double>(), one_sample / k * 0.5) << "k=" << k;
    EXPECT_NEAR(r.coverage, expected["coverage"].get<double>(), one_sample * 0.5) << "k=" << k;
  }
}

TEST(FeatureMetrics, FidIsZeroForASetAgainstItselfAndSymmetric) {
  const auto a = random_features(200, 16, 1);
  const auto b = random_features(150, 16, 2, 0.3);
  EXPECT_NEAR(frechet_distance(a, a), 0.0, 1e-6);
  const double ab = frechet_distance(a, b);
  EXPECT_GT(ab, 16 * 0.3 * 0.3 * 0.5) << "the means differ by 0.3 in each of 16 dimensions";
  EXPECT_NEAR(frechet_distance(b, a), ab, 1e-9 * ab);
}

TEST(FeatureMetrics, FidOfTooFewSamplesNamesTheSingularCovarianceAndSuggestsKid) {
  const auto few = random_features(16, 16, 3);
  const auto many = random_features(100, 16, 4);
  try {
    (void)frechet_distance(few, many);
    FAIL() << "16 samples of 16 dimensions have a singular covariance";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("singular covariance"), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("KID"), std::string::npos) << e.what();
  }
  const auto kid = kernel_distance(many, few, 10, 1000, 7);
  EXPECT_EQ(kid.subset_size, 16u);
  EXPECT_TRUE(std::isfinite(kid.mean));
}

TEST(FeatureMetrics, KidSubsetsDependOnTheSeedOnlyAndHaveASpread) {
  const auto a = random_features(300, 8, 5);
  const auto b = random_features(300, 8, 6, 0.5);
  const auto first = kernel_distance(a, b, 20, 50, 11);
  const auto again = kernel_distance(a, b, 20, 50, 11);
  const auto other = kernel_distance(a, b, 20, 50, 12);
  EXPECT_EQ(first.mean, again.mean);
  EXPECT_NE(first.mean, other.mean);
  EXPECT_GT(first.std, 0);
  EXPECT_EQ(first.subset_size, 50u);
  EXPECT_GT(first.mean, 3 * first.std) << "sets half a standard deviation apart differ clearly";
}

TEST(FeatureMetrics, IdenticalSetsHaveFullPrecisionRecallAndCoverage) {
  const auto a = random_features(120, 4, 8);
  const auto r = precision_recall(a, a, 5);
  EXPECT_EQ(r.precision, 1.0);
  EXPECT_EQ(r.recall, 1.0);
  EXPECT_EQ(r.coverage, 1.0);
  EXPECT_GT(r.density, 0.9);
  const auto far = random_features(120, 4, 9, 100.0);
  const auto apart = precision_recall(a, far, 5);
  EXPECT_EQ(apart.precision, 0.0);
  EXPECT_EQ(apart.recall, 0.0);
  EXPECT_EQ(apart.density, 0.0);
  EXPECT_EQ(apart.coverage, 0.0);
}

TEST(FeatureMetrics, NearestRowsFindsTheClosestReferenceRow) {
  FeatureMatrix reference{3, 2, {0, 0, 10, 0, 0, 10}};
  FeatureMatrix queries{2, 2, {9, 1, 1, 8}};
  const auto nearest = nearest_rows(queries, reference);
  EXPECT_EQ(nearest.index, (std::vector<size_t>{1, 2}));
  EXPECT_NEAR(nearest.distance[0], std::sqrt(2.0), 1e-12);
  EXPECT_NEAR(nearest.distance[1], std::sqrt(5.0), 1e-12);
}

std::vector<stages::RgbImage> images_of(const std::filesystem::path& dir, const nlohmann::json& names) {
  std::vector<stages::RgbImage> images;
  for (const auto& name : names) images.push_back(stages::read_image((dir / name.get<std::string>()).string()));
  return images;
}

TEST(FeatureExtractor, NvlabsConventionReproducesTheStoredFeaturesAndMetrics) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto eval = data / "eval";
  const auto ref = reference(eval);
  FeatureExtractorOptions options;
  options.path = (eval / "extractor.pt").string();
  options.device = "cpu";
  FeatureExtractor extractor(options);
  EXPECT_EQ(extractor.id().size(), 32u);
  EXPECT_NE(extractor.description().find("return_features=True"), std::string::npos) << extractor.description();
  const auto real = extractor.extract(images_of(eval / "real", ref["real"]));
  const auto synthetic = extractor.extract(images_of(eval / "synthetic", ref["synthetic"]));
  const auto stored_real = stored_features(eval, "real");
  ASSERT_EQ(real.rows, 48u);
  ASSERT_EQ(real.dim, 32u);
  for (size_t i = 0; i < real.values.size(); ++i) {
    ASSERT_NEAR(real.values[i], stored_real.values[i], 1e-5 * std::max(1.0, std::abs(stored_real.values[i])))
        << "value " << i;
  }
  expect_relative(frechet_distance(real, synthetic), ref["fid"].get<double>(), 1e-4, "fid from the PNGs");
  expect_relative(kernel_distance(real, synthetic).mean, ref["kid"].get<double>(), 1e-4, "kid from the PNGs");
}

TEST(FeatureExtractor, TheIdCoversThePreprocessing) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  FeatureExtractorOptions options;
  options.path = (data / "eval" / "extractor.pt").string();
  options.device = "cpu";
  const std::string plain = FeatureExtractor(options).id();
  EXPECT_EQ(FeatureExtractor(options).id(), plain);
  options.preprocessing.input_size = 32;
  EXPECT_NE(FeatureExtractor(options).id(), plain);
}

TEST(FeatureExtractor, BadFilesAndSettingsAreNamed) {
  testing::TempDir dir;
  FeatureExtractorOptions options;
  options.device = "cpu";
  options.path = (dir / "missing.pt").string();
  try {
    FeatureExtractor extractor(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.pt: no such extractor file"), std::string::npos) << e.what();
  }
  options.path = (dir / "corrupt.pt").string();
  std::ofstream(options.path) << "not a zip archive";
  try {
    FeatureExtractor extractor(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("corrupt.pt: not a TorchScript file"), std::string::npos) << e.what();
  }
  // A module whose output is the images themselves, not N x D.
  {
    torch::jit::Module identity("Identity");
    identity.define("def forward(self, x):\n    return x\n");
    identity.save((dir / "identity.pt").string());
  }
  options.path = (dir / "identity.pt").string();
  FeatureExtractor identity(options);
  try {
    (void)identity.extract({stages::RgbImage(8, 6, 1), stages::RgbImage(8, 6, 2)});
    FAIL() << "an N x 3 x H x W output was taken for features";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("identity.pt: the features are 2 x 3 x 6 x 8, not 2 x D"), std::string::npos)
        << e.what();
  }
  TESSERA_REQUIRE_SHARED_DATA(data);
  options.path = (data / "eval" / "extractor.pt").string();
  options.preprocessing.arguments = {"no_such_argument=1"};
  try {
    FeatureExtractor extractor(options);
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("no_such_argument: forward of"), std::string::npos) << e.what();
  }
  // return_features=False gives the logits: still N x D, a different id.
  options.preprocessing.arguments = {"return_features=false"};
  FeatureExtractor logits(options);
  const auto rows = logits.extract({stages::RgbImage(64, 64, 128), stages::RgbImage(64, 64, 30)});
  EXPECT_EQ(rows.rows, 2u);
}

}  // namespace
}  // namespace tessera::runtime
