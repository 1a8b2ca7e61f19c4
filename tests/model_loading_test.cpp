// Building a model from a config and weights. One model, one id: the
// fingerprint `tessera model info --json` prints is the id the command that
// runs the model stores, whether the weights are a whole LDM checkpoint
// (tensors under the sub-model's prefix) or the sub-model saved alone (bare
// names, as train-vae saves its VAE). Errors name the file and the tensor or
// field at fault.

#include "runtime/model_loading.h"

#include <gtest/gtest.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <set>

#include "base/file_io.h"
#include "model/config_error.h"
#include "model/safetensors.h"
#include "model/weights_error.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

// A two-layer CLIP text tower with a 77-token context, so encode-text is quick.
constexpr const char* kTinyClipJson =
    R"({"model_type": "clip_text_model", "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77, "vocab_size": 49408})";

// The tensors of `weights` under `prefix`, written to `out` without it.
fs::path write_bare(const fs::path& weights, const std::string& prefix, const fs::path& out) {
  const auto set = model::WeightsSet::open(weights.string());
  std::vector<model::TensorData> tensors;
  for (const auto& name : set.names()) {
    if (name.rfind(prefix, 0) != 0) continue;
    const auto& view = set.at(name);
    tensors.push_back(
        {name.substr(prefix.size()), view.dtype, view.shape, std::vector<uint8_t>(view.data, view.data + view.bytes)});
  }
  EXPECT_FALSE(tensors.empty()) << weights << " has no tensor under " << prefix;
  model::write_safetensors(out.string(), tensors);
  return out;
}

// One slide ingested into a store (64 px tiles at 2 µm/px), shared by the tests.
class ModelLoadingTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    store_ = testing::ingest_test_slide(dir_->path());
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static fs::path init_weights(const fs::path& config, int seed) {
    const auto out = *dir_ / (config.filename().string() + "." + std::to_string(seed) + ".safetensors");
    const auto r = run_tessera(
        {"model", "init", "--config", config.string(), "--seed", std::to_string(seed), "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out;
  }

  // The fingerprint `model info --json` prints for sub-model `part`.
  static std::string info_id(const fs::path& config, const fs::path& weights, const std::string& part) {
    const auto r = run_tessera({"model", "info", "--config", config.string(), "--weights", weights.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    if (r.exit_code != 0) return "";
    for (const auto& summary : nlohmann::json::parse(r.output)) {
      if (summary["part"] == part) return summary["fingerprint"];
    }
    ADD_FAILURE() << config << " has no " << part;
    return "";
  }

  // The ids of the models the store holds in `role`, as `tessera info --json` lists them.
  static std::set<std::string> stored_ids(const std::string& role) {
    const auto r = run_tessera({"info", "--store", store_.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    const auto info = json_of(r);
    std::set<std::string> ids;
    for (const auto& model : info["models"]) {
      if (model["role"] == role) ids.insert(model["id"].get<std::string>());
    }
    return ids;
  }

  static testing::TempDir* dir_;
  static fs::path store_;
};

testing::TempDir* ModelLoadingTest::dir_ = nullptr;
fs::path ModelLoadingTest::store_;

TEST_F(ModelLoadingTest, AutoencoderIdIsTheIdEncodeStores) {
  for (const std::string name : {"tiny-vq.yaml", "tiny-kl.yaml"}) {
    SCOPED_TRACE(name);
    const auto config = testing::kLdmConfigs / name;
    const auto prefixed = init_weights(config, 3);
    const auto bare = write_bare(prefixed, "first_stage_model.", *dir_ / (name + ".bare.safetensors"));
    // Bare first: the store has no model of this id until that run registers it.
    for (const auto& weights : {bare, prefixed}) {
      SCOPED_TRACE(weights.filename().string());
      const auto r = run_tessera({"encode", "--store", store_.string(), "--vae-config", config.string(),
                                  "--vae-weights", weights.string(), "--progress", "quiet", "--json"});
      ASSERT_EQ(r.exit_code, 0) << r.output;
      const std::string id = info_id(config, weights, "first_stage");
      EXPECT_EQ(json_of(r)["model_id"], id);
      EXPECT_EQ(stored_ids("first_stage").count(id), 1u);
    }
  }
}

TEST_F(ModelLoadingTest, TextEncoderIdIncludesTheContextLengthAsEncodeTextStoresIt) {
  const auto config = *dir_ / "tiny-clip.json";
  write_file(config, kTinyClipJson);
  const auto prefixed = init_weights(config, 5);
  const auto bare = write_bare(prefixed, "cond_stage_model.transformer.", *dir_ / "tiny-clip.bare.safetensors");
  for (const auto& weights : {bare, prefixed}) {
    SCOPED_TRACE(weights.filename().string());
    const auto r = run_tessera({"encode-text", "--store", store_.string(), "--text-config", config.string(),
                                "--text-weights", weights.string(), "--progress", "quiet", "--json"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const std::string id = info_id(config, weights, "cond_stage");
    EXPECT_EQ(json_of(r)["model_id"], id);
    EXPECT_EQ(stored_ids("cond_stage").count(id), 1u);
  }
}

TEST_F(ModelLoadingTest, UNetIdIsTheIdGenerateRecords) {
  // tiny-ldm.yaml's denoiser alone: its text tower (CLIP B/32) is too slow to
  // initialise here, and generate records the id runtime::load_unet gives.
  std::string yaml = read_file(testing::kLdmConfigs / "tiny-ldm.yaml");
  const auto first_stage = yaml.find("    first_stage_config:");
  const auto training = yaml.find("training:");
  ASSERT_NE(first_stage, std::string::npos);
  ASSERT_NE(training, std::string::npos);
  yaml.erase(first_stage, training - first_stage);
  const auto config = *dir_ / "tiny-unet.yaml";
  write_file(config, yaml);
  const auto prefixed = init_weights(config, 9);
  const auto bare = write_bare(prefixed, "model.diffusion_model.", *dir_ / "tiny-unet.bare.safetensors");
  std::set<std::string> ids;
  for (const auto& weights : {bare, prefixed}) {
    SCOPED_TRACE(weights.filename().string());
    const std::string id = info_id(config, weights, "unet");
    EXPECT_EQ(runtime::load_unet(config.string(), weights.string()).id, id);
    ids.insert(id);
  }
  EXPECT_EQ(ids.size(), 1u);
}

TEST_F(ModelLoadingTest, ErrorsNameTheFileAndTheTensorOrField) {
  const auto vq = init_weights(testing::kLdmConfigs / "tiny-vq.yaml", 4);
  try {
    (void)runtime::load_autoencoder((testing::kLdmConfigs / "tiny-kl.yaml").string(), vq.string());
    ADD_FAILURE() << "a KL autoencoder loaded VQ weights";
  } catch (const model::WeightsError& e) {
    EXPECT_EQ(e.file(), vq.string());
    EXPECT_EQ(e.tensor().rfind("first_stage_model.", 0), 0u) << e.tensor();
    EXPECT_NE(std::string(e.what()).find(e.tensor()), std::string::npos) << e.what();
  }

  const auto config = *dir_ / "bad-clip.json";
  for (const auto& [json, field] :
       {std::pair{R"({"hidden_size": "wide"})", "hidden_size"}, std::pair{R"({"hidden_act": "relu"})", "hidden_act"},
        std::pair{R"({"hidden_layers": 2})", "hidden_layers"}}) {
    SCOPED_TRACE(json);
    write_file(config, json);
    try {
      (void)runtime::load_text_encoder(config.string(), vq.string());
      ADD_FAILURE() << "an invalid config was read";
    } catch (const model::ConfigError& e) {
      EXPECT_EQ(e.file(), config.string());
      EXPECT_EQ(e.field(), field);
      EXPECT_EQ(std::string(e.what()).rfind(config.string(), 0), 0u) << e.what();
    }
  }
}

}  // namespace
}  // namespace tessera
