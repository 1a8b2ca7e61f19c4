#include "model/clip_text.h"

#include <gtest/gtest.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <fstream>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/attention.h"
#include "model/clip_text_config.h"
#include "model/config_error.h"
#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "parity_support.h"
#include "test_support.h"

namespace tessera::model {
namespace {
namespace fs = std::filesystem;

const std::string kPrefix = "cond_stage_model.transformer.";

void write_text(const fs::path& path, const std::string& text) {
  std::ofstream out(path, std::ios::binary);
  out << text;
}

// The message of the ConfigError that reading `json` throws, or "".
std::string config_error(const tessera::testing::TempDir& dir, const std::string& json) {
  const fs::path path = dir / "config.json";
  write_text(path, json);
  try {
    ClipTextConfig::from_hugging_face_json(path.string());
  } catch (const ConfigError& error) {
    return error.what();
  }
  return {};
}

// A CLIPTextConfig as the parity fixture has it, with `extra` members added.
std::string tiny_json(const std::string& extra = "") {
  return R"({"architectures": ["CLIPTextModel"], "model_type": "clip_text_model", "vocab_size": 1000,
  "hidden_size": 64, "intermediate_size": 256, "num_hidden_layers": 2, "num_attention_heads": 4,
  "max_position_embeddings": 77, "hidden_act": "quick_gelu", "layer_norm_eps": 1e-05,
  "bos_token_id": 998, "eos_token_id": 999, "pad_token_id": 999)" +
         extra + "}";
}

ClipTextConfig tiny_config() {
  ClipTextConfig config;
  config.vocab_size = 1000;
  config.hidden_size = 64;
  config.intermediate_size = 256;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.max_position_embeddings = 77;
  config.hidden_act = "quick_gelu";
  config.layer_norm_eps = 1e-5;
  config.bos_token_id = 998;
  config.eos_token_id = 999;
  config.pad_token_id = 999;
  return config;
}

class ClipTextTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(2); }
};

TEST_F(ClipTextTest, ReadsTheFixtureConfig) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const ClipTextConfig config =
      ClipTextConfig::from_hugging_face_json((data / "parity" / "clip_text_tiny.config.json").string());
  EXPECT_EQ(config, tiny_config());
}

TEST_F(ClipTextTest, ParameterNamesAreCheckpointKeys) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "clip_text_tiny.weights.safetensors").string());
  ClipTextModel model(tiny_config());
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters()) names.push_back(kPrefix + item.key());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, weights.names());
  EXPECT_TRUE(model.named_buffers().is_empty());
}

TEST_F(ClipTextTest, MatchesUpstream) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const fs::path dir = data / "parity";
  const ClipTextConfig config = ClipTextConfig::from_hugging_face_json((dir / "clip_text_tiny.config.json").string());
  const WeightsSet weights = WeightsSet::open((dir / "clip_text_tiny.weights.safetensors").string());
  const SafetensorsFile io = SafetensorsFile::open((dir / "clip_text_tiny.io.safetensors").string());
  ClipTextModel model(config);
  model.eval();
  load_weights(model, weights, kPrefix, ClipTextModel::ignored_checkpoint_keys());
  torch::NoGradGuard no_grad;

  std::printf("clip_text_tiny (attention via %s):\n", attention_uses_sdpa() ? "SDPA" : "math path");
  const torch::Tensor ids_77 = testing::fixture_tensor(io, "input_ids_77");
  testing::expect_parity(io, "last_hidden_77_nomask", model.forward(ids_77));
  testing::expect_parity(io, "last_hidden_77_padmask",
                         model.forward(ids_77, testing::fixture_tensor(io, "attention_mask_77")));
  // A bool mask means the same as the int64 one.
  testing::expect_parity(io, "last_hidden_77_padmask",
                         model.forward(ids_77, testing::fixture_tensor(io, "attention_mask_77").to(torch::kBool)));
  const torch::Tensor ids_154 = testing::fixture_tensor(io, "input_ids_154");
  testing::expect_parity(io, "last_hidden_154_pathldm",
                         model.encode_pathldm_154(ids_154, testing::fixture_tensor(io, "attention_mask_154")));
  // The fixture's diagnostic: the same without the padding mask.
  testing::expect_parity(io, "last_hidden_154_nopadmask", model.encode_pathldm_154(ids_154, torch::ones_like(ids_154)));
}

TEST_F(ClipTextTest, PositionIdsInCheckpointsAreIgnored) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "clip_text_tiny.weights.safetensors").string());
  std::vector<int64_t> positions(77);
  for (int64_t i = 0; i < 77; ++i) positions[static_cast<size_t>(i)] = i;
  std::vector<TensorData> tensors = {
      TensorData::from_int64(kPrefix + "text_model.embeddings.position_ids", {1, 77}, positions)};
  for (const std::string& name : weights.names()) {
    const TensorView& view = weights.at(name);
    tensors.push_back(TensorData::from_floats(name, view.shape, view.to_float32()));
  }
  const tessera::testing::TempDir dir;
  const fs::path path = dir / "with_position_ids.safetensors";
  write_safetensors(path.string(), tensors);
  const WeightsSet with_ids = WeightsSet::open(path.string());

  ClipTextModel model(tiny_config());
  EXPECT_NO_THROW(load_weights(model, with_ids, kPrefix, ClipTextModel::ignored_checkpoint_keys()));
  try {
    load_weights(model, with_ids, kPrefix);
    ADD_FAILURE() << "strict loading accepted position_ids without the ignored list";
  } catch (const WeightsError& error) {
    EXPECT_NE(std::string(error.what()).find("unexpected: " + kPrefix + "text_model.embeddings.position_ids"),
              std::string::npos)
        << error.what();
  }
}

TEST_F(ClipTextTest, ConfigErrorsNameTheKey) {
  const tessera::testing::TempDir dir;
  EXPECT_EQ(config_error(dir, tiny_json()), "");

  std::string error = config_error(dir, tiny_json(R"(, "use_rotary_embeddings": true)"));
  EXPECT_NE(error.find("unknown key \"use_rotary_embeddings\""), std::string::npos) << error;
  error = config_error(dir, R"({"hidden_act": "relu"})");
  EXPECT_NE(error.find("hidden_act"), std::string::npos) << error;
  error = config_error(dir, R"({"model_type": "bert"})");
  EXPECT_NE(error.find("model_type"), std::string::npos) << error;
  error = config_error(dir, R"({"hidden_size": 64.5})");
  EXPECT_NE(error.find("\"hidden_size\" must be an integer"), std::string::npos) << error;
  error = config_error(dir, R"({"layer_norm_eps": "1e-5"})");
  EXPECT_NE(error.find("\"layer_norm_eps\" must be a number"), std::string::npos) << error;
  error = config_error(dir, R"({"hidden_size": 65, "num_attention_heads": 4})");
  EXPECT_NE(error.find("divisible"), std::string::npos) << error;
  // A size no network has is refused by its key before anything is allocated.
  error = config_error(dir, R"({"hidden_size": 99999999999999})");
  EXPECT_NE(error.find("hidden_size must be within 1..8192, got 99999999999999"), std::string::npos) << error;
  error = config_error(dir, R"({"num_hidden_layers": 100000})");
  EXPECT_NE(error.find("num_hidden_layers must be within 1..64, got 100000"), std::string::npos) << error;
  error = config_error(dir, R"({"vocab_size": 1000})");  // default bos 49406 is outside
  EXPECT_NE(error.find("bos_token_id"), std::string::npos) << error;
  EXPECT_NE(config_error(dir, R"({"hidden_size": 64,})"), "");
  EXPECT_NE(config_error(dir, "[]"), "");
  EXPECT_THROW(ClipTextConfig::from_hugging_face_json((dir / "absent.json").string()), ConfigError);

  // Keys that do not change the model are accepted.
  EXPECT_EQ(config_error(dir, tiny_json(R"(, "dropout": 0.1, "attention_dropout": 0.0, "projection_dim": 512,
      "initializer_factor": 1.0, "torch_dtype": "float32", "transformers_version": "4.30.0",
      "id2label": {"0": "LABEL_0"}, "pruned_heads": {}, "bad_words_ids": null)")),
            "");

  // Nested CLIPConfig: the text tower's keys are checked as strictly.
  error = config_error(dir, R"({"model_type": "clip", "text_config": {"hidden_size": 64, "num_attention_heads": 4,
      "rope_theta": 10000}, "vision_config": {"patch_size": 32}})");
  EXPECT_NE(error.find("text_config: unknown key \"rope_theta\""), std::string::npos) << error;
  error = config_error(dir, R"({"model_type": "clip", "text_config": {}, "vision_config": {}, "blend": 1})");
  EXPECT_NE(error.find("unknown key \"blend\""), std::string::npos) << error;
  error = config_error(dir, R"({"model_type": "clip", "text_config": {"hidden_size": 768, "num_attention_heads": 12},
      "text_config_dict": {"hidden_size": 512}})");
  EXPECT_NE(error.find("different text models"), std::string::npos) << error;
}

// The text_config of openai/clip-vit-base-patch32's config.json (abridged to
// its architecture keys and a few of PretrainedConfig's), read through a full
// CLIPConfig as on the Hugging Face hub.
TEST_F(ClipTextTest, ReadsAHubClipConfig) {
  const tessera::testing::TempDir dir;
  const fs::path path = dir / "config.json";
  write_text(path, R"({"_name_or_path": "openai/clip-vit-base-patch32", "architectures": ["CLIPModel"],
    "initializer_factor": 1.0, "logit_scale_init_value": 2.6592, "model_type": "clip", "projection_dim": 512,
    "text_config": {"_name_or_path": "", "add_cross_attention": false, "architectures": null,
      "attention_dropout": 0.0, "bos_token_id": 0, "chunk_size_feed_forward": 0, "dropout": 0.0,
      "eos_token_id": 2, "hidden_act": "quick_gelu", "hidden_size": 512,
      "id2label": {"0": "LABEL_0", "1": "LABEL_1"}, "initializer_factor": 1.0, "initializer_range": 0.02,
      "intermediate_size": 2048, "is_decoder": false, "layer_norm_eps": 1e-05, "max_length": 20,
      "max_position_embeddings": 77, "model_type": "clip_text_model", "num_attention_heads": 8,
      "num_hidden_layers": 12, "pad_token_id": 1, "projection_dim": 512, "pruned_heads": {},
      "return_dict": true, "tie_word_embeddings": true, "top_k": 50, "torch_dtype": null,
      "transformers_version": "4.16.0.dev0", "use_bfloat16": false, "vocab_size": 49408},
    "text_config_dict": null, "transformers_version": null,
    "vision_config": {"hidden_size": 768, "patch_size": 32, "model_type": "clip_vision_model"},
    "vision_config_dict": null})");
  ClipTextConfig expected = ClipTextConfig::known("openai/clip-vit-base-patch32");
  expected.bos_token_id = 0;  // the legacy ids of that config.json
  expected.eos_token_id = 2;
  expected.pad_token_id = 1;
  EXPECT_EQ(ClipTextConfig::from_hugging_face_json(path.string()), expected);
}

TEST_F(ClipTextTest, KnownConfigsAndParameterCounts) {
  const ClipTextConfig b32 = ClipTextConfig::known("openai/clip-vit-base-patch32");
  EXPECT_EQ(b32.hidden_size, 512);
  EXPECT_EQ(b32.num_hidden_layers, 12);
  EXPECT_EQ(b32.num_attention_heads, 8);
  EXPECT_EQ(b32.intermediate_size, 2048);
  EXPECT_EQ(b32.vocab_size, 49408);
  EXPECT_EQ(b32.max_position_embeddings, 77);
  EXPECT_EQ(b32.hidden_act, "quick_gelu");
  EXPECT_EQ(b32.layer_norm_eps, 1e-5);
  EXPECT_EQ(b32.bos_token_id, 49406);
  EXPECT_EQ(b32.eos_token_id, 49407);
  EXPECT_EQ(b32.pad_token_id, 49407);
  EXPECT_EQ(ClipTextConfig::known("vinid/plip"), b32);
  EXPECT_EQ(ClipTextConfig(), b32);
  const ClipTextConfig l14 = ClipTextConfig::known("openai/clip-vit-large-patch14");
  EXPECT_EQ(l14.hidden_size, 768);
  EXPECT_EQ(l14.num_hidden_layers, 12);
  EXPECT_EQ(l14.num_attention_heads, 12);
  EXPECT_EQ(l14.intermediate_size, 3072);
  EXPECT_EQ(l14.vocab_size, 49408);
  EXPECT_EQ(l14.max_position_embeddings, 77);
  EXPECT_THROW(ClipTextConfig::known("openai/clip-vit-huge"), ConfigError);

  // ViT-B/32: token embedding 49408*512 + positions 77*512 + 12 layers of
  // (4 biased 512x512 projections + fc1 512->2048 + fc2 2048->512 + 2 layer
  // norms) + the final layer norm = 25,296,896 + 39,424 + 12 * 3,152,384 +
  // 1,024 = 63,165,952, the published size of CLIP's ViT-B/32 text encoder
  // (the "63M-parameter" text transformer of the CLIP paper). CLIP's
  // text_projection (512x512, 262,144 more) belongs to CLIPModel, not to
  // CLIPTextModel, so it is not counted.
  EXPECT_EQ(testing::parameter_count(ClipTextModel(b32)), 63165952);
  // ViT-L/14 (Stable Diffusion v1's text encoder): 37,945,344 + 59,136 +
  // 12 * 7,087,872 + 1,536 = 123,060,480, as published for SD v1's
  // CLIPTextModel (again without the 768x768 text_projection).
  EXPECT_EQ(testing::parameter_count(ClipTextModel(l14)), 123060480);
}

TEST_F(ClipTextTest, AttentionSwitchPointMatchesTheFormula) {
  torch::manual_seed(7);
  const torch::Tensor q = torch::randn({2, 3, 5, 8}, torch::kFloat64);
  const torch::Tensor k = torch::randn({2, 3, 6, 8}, torch::kFloat64);
  const torch::Tensor v = torch::randn({2, 3, 6, 8}, torch::kFloat64);
  torch::Tensor mask = torch::zeros({2, 1, 5, 6}, torch::kFloat64);
  mask.index_put_({0, 0, 1, 4}, std::numeric_limits<double>::lowest());
  mask.index_put_({1, 0, torch::indexing::Slice(), 5}, std::numeric_limits<double>::lowest());

  // Written out element by element.
  const torch::Tensor expected = torch::zeros({2, 3, 5, 8}, torch::kFloat64);
  for (int64_t b = 0; b < 2; ++b) {
    for (int64_t h = 0; h < 3; ++h) {
      for (int64_t i = 0; i < 5; ++i) {
        std::vector<double> scores(6);
        double max_score = std::numeric_limits<double>::lowest();
        for (int64_t j = 0; j < 6; ++j) {
          const double dot = (q[b][h][i] * k[b][h][j]).sum().item<double>() / std::sqrt(8.0);
          scores[static_cast<size_t>(j)] = dot + mask[b][0][i][j].item<double>();
          max_score = std::max(max_score, scores[static_cast<size_t>(j)]);
        }
        double total = 0.0;
        for (double& s : scores) total += (s = std::exp(s - max_score));
        for (int64_t j = 0; j < 6; ++j) {
          expected[b][h][i].add_(v[b][h][j] * (scores[static_cast<size_t>(j)] / total));
        }
      }
    }
  }
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product_math(q, k, v, mask), expected), 1e-12);
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product(q, k, v, mask), expected), 1e-12);
  const torch::Tensor unmasked = scaled_dot_product_math(q, k, v, torch::zeros({1}, torch::kFloat64));
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product(q, k, v, torch::Tensor()), unmasked), 1e-12);
  EXPECT_EQ(attention_uses_sdpa(), TORCH_VERSION_MAJOR >= 2);
}

TEST_F(ClipTextTest, FullyMaskedQueriesDoNotProduceNan) {
  ClipTextModel model(tiny_config());
  model.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::full({1, 5}, 999, torch::kInt64);
  const torch::Tensor mask = torch::zeros({1, 5}, torch::kInt64);
  EXPECT_FALSE(model.forward(ids, mask).isnan().any().item<bool>());
}

TEST_F(ClipTextTest, RejectsBadInputs) {
  ClipTextModel model(tiny_config());
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::full({2, 10}, 5, torch::kInt64);
  EXPECT_EQ(model.forward(ids).sizes(), (std::vector<int64_t>{2, 10, 64}));
  EXPECT_EQ(model.forward(ids.to(torch::kInt32)).sizes(), (std::vector<int64_t>{2, 10, 64}));
  EXPECT_THROW(model.forward(torch::full({2, 78}, 5, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(torch::full({2, 10}, 1000, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(torch::full({2, 10}, -1, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(torch::zeros({2, 10})), std::invalid_argument);
  EXPECT_THROW(model.forward(torch::zeros({10}, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(ids, torch::ones({2, 9}, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(ids, torch::full({2, 10}, 2, torch::kInt64)), std::invalid_argument);
  EXPECT_THROW(model.forward(ids, torch::ones({2, 10})), std::invalid_argument);
  EXPECT_THROW(model.encode_pathldm_154(ids, torch::ones_like(ids)), std::invalid_argument);
  const torch::Tensor ids_154 = torch::full({2, 154}, 5, torch::kInt64);
  EXPECT_THROW(model.encode_pathldm_154(ids_154, torch::Tensor()), std::invalid_argument);
  EXPECT_EQ(model.encode_pathldm_154(ids_154, torch::ones_like(ids_154)).sizes(), (std::vector<int64_t>{2, 154, 64}));
  ClipTextConfig bad = tiny_config();
  bad.hidden_act = "relu";
  EXPECT_THROW(ClipTextModel{bad}, ConfigError);
}

}  // namespace
}  // namespace tessera::model
