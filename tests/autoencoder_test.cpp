#include "model/autoencoder.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "model/tensor_io.h"
#include "parity_support.h"
#include "test_support.h"

namespace tessera::model {
namespace {
namespace fs = std::filesystem;

const std::string kPrefix = "first_stage_model.";

// Pinned from shared/data/parity/vq_tiny.yaml.
AutoencoderConfig vq_tiny_config() {
  AutoencoderConfig config;
  config.kind = AutoencoderKind::kVq;
  config.embed_dim = 3;
  config.n_embed = 64;
  config.double_z = false;
  config.z_channels = 3;
  config.resolution = 32;
  config.in_channels = 3;
  config.out_ch = 3;
  config.ch = 32;
  config.ch_mult = {1, 2};
  config.num_res_blocks = 1;
  config.attn_resolutions = {};
  config.dropout = 0.0;
  return config;
}

// Pinned from shared/data/parity/kl_tiny.yaml.
AutoencoderConfig kl_tiny_config() {
  AutoencoderConfig config;
  config.kind = AutoencoderKind::kKl;
  config.embed_dim = 4;
  config.double_z = true;
  config.z_channels = 4;
  config.resolution = 32;
  config.in_channels = 3;
  config.out_ch = 3;
  config.ch = 32;
  config.ch_mult = {1, 2};
  config.num_res_blocks = 1;
  config.attn_resolutions = {};
  config.dropout = 0.0;
  return config;
}

std::string load_error(torch::nn::Module& module, const WeightsSet& weights,
                       const std::vector<std::string>& ignored = {"loss."}) {
  try {
    load_weights(module, weights, kPrefix, ignored);
  } catch (const WeightsError& error) {
    return error.what();
  }
  return {};
}

// Every tensor of `weights`, converted to `dtype`, minus `drop`, plus `extra`.
std::vector<TensorData> rewritten(const WeightsSet& weights, DType dtype, const std::string& drop,
                                  const std::vector<TensorData>& extra = {}) {
  std::vector<TensorData> tensors = extra;
  for (const std::string& name : weights.names()) {
    if (name == drop) continue;
    const TensorView& view = weights.at(name);
    tensors.push_back(TensorData::from_floats(name, view.shape, view.to_float32(), dtype));
  }
  return tensors;
}

class AutoencoderTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(2); }
};

TEST_F(AutoencoderTest, ConfigValidation) {
  EXPECT_NO_THROW(vq_tiny_config().validate());
  EXPECT_NO_THROW(kl_tiny_config().validate());
  AutoencoderConfig config = kl_tiny_config();
  config.ch = 48;
  EXPECT_THROW(config.validate(), ConfigError);
  config = kl_tiny_config();
  config.double_z = false;
  EXPECT_THROW(config.validate(), ConfigError);
  config = vq_tiny_config();
  config.n_embed = 0;
  EXPECT_THROW(Autoencoder{config}, ConfigError);
  config = kl_tiny_config();
  config.resolution = 30;
  config.ch_mult = {1, 2, 4};
  EXPECT_THROW(config.validate(), ConfigError);
}

TEST_F(AutoencoderTest, ParameterNamesAreCheckpointKeys) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "vq_tiny.weights.index.json").string());
  Autoencoder model(vq_tiny_config());
  std::vector<std::string> names;
  for (const auto& item : model.named_parameters()) names.push_back(kPrefix + item.key());
  std::sort(names.begin(), names.end());
  EXPECT_EQ(names, weights.names());
}

TEST_F(AutoencoderTest, VqMatchesUpstream) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const fs::path dir = data / "parity";
  const WeightsSet weights = WeightsSet::open((dir / "vq_tiny.weights.index.json").string());
  const SafetensorsFile io = SafetensorsFile::open((dir / "vq_tiny.io.safetensors").string());
  Autoencoder model(vq_tiny_config());
  model.eval();
  load_weights(model, weights, kPrefix, {"loss."});
  torch::NoGradGuard no_grad;

  const torch::Tensor image = testing::fixture_tensor(io, "image");
  std::printf("vq_tiny:\n");
  testing::expect_parity(io, "encoder_out", model.run_encoder(image));
  const torch::Tensor h = model.encode(image);
  testing::expect_parity(io, "h", h);
  testing::expect_parity(io, "h", model.encode_moments(image));
  const QuantizedLatent quantized = model.quantize(h);
  testing::expect_parity(io, "quantized", quantized.quantized);
  const torch::Tensor expected_indices = testing::fixture_tensor(io, "indices");
  ASSERT_EQ(quantized.indices.sizes(), expected_indices.sizes());
  EXPECT_EQ(quantized.indices.scalar_type(), torch::kInt64);
  EXPECT_TRUE(torch::equal(quantized.indices, expected_indices));
  const torch::Tensor codebook_rows = model.codebook_lookup(quantized.indices);
  testing::expect_parity(io, "quantized_codebook", codebook_rows);
  testing::expect_parity(io, "decoded", model.decode(h));
  testing::expect_parity(io, "decoded_unquantized", model.decode_unquantized(h));
  testing::expect_parity(io, "decoded_from_codebook", model.decode_unquantized(codebook_rows));
  EXPECT_THROW(model.encode_posterior(image), std::logic_error);
}

TEST_F(AutoencoderTest, KlMatchesUpstream) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const fs::path dir = data / "parity";
  const WeightsSet weights = WeightsSet::open((dir / "kl_tiny.weights.index.json").string());
  const SafetensorsFile io = SafetensorsFile::open((dir / "kl_tiny.io.safetensors").string());
  Autoencoder model(kl_tiny_config());
  model.eval();
  load_weights(model, weights, kPrefix, {"loss."});
  torch::NoGradGuard no_grad;

  const torch::Tensor image = testing::fixture_tensor(io, "image");
  std::printf("kl_tiny:\n");
  testing::expect_parity(io, "encoder_out", model.run_encoder(image));
  testing::expect_parity(io, "moments", model.encode_moments(image));
  const DiagonalGaussian posterior = model.encode_posterior(image);
  testing::expect_parity(io, "mean", posterior.mean);
  testing::expect_parity(io, "mean", model.encode(image));
  testing::expect_parity(io, "logvar", posterior.logvar);
  testing::expect_parity(io, "std", posterior.std);
  testing::expect_parity(io, "decoded", model.decode(posterior.mode()));
  const torch::Tensor sample = posterior.sample(testing::fixture_tensor(io, "noise"));
  testing::expect_parity(io, "sample", sample);
  testing::expect_parity(io, "decoded_sample", model.decode(sample));
  testing::expect_parity(io, "decoded_sample", model.decode_unquantized(sample));
  EXPECT_THROW(model.quantize(posterior.mean), std::logic_error);
  EXPECT_THROW(model.codebook_lookup(torch::zeros({1, 2, 2}, torch::kInt64)), std::logic_error);
}

TEST_F(AutoencoderTest, LoaderRejectsWrongShapes) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "kl_tiny.weights.index.json").string());
  AutoencoderConfig config = kl_tiny_config();
  config.ch = 64;
  Autoencoder model(config);
  const torch::Tensor before = model.named_parameters()["encoder.conv_in.weight"].clone();
  const std::string message = load_error(model, weights);
  ASSERT_FALSE(message.empty());
  EXPECT_NE(message.find("first_stage_model.encoder.conv_in.weight: got [32, 3, 3, 3], expected [64, 3, 3, 3]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("first_stage_model.decoder.conv_out.weight: got [3, 32, 3, 3], expected [3, 64, 3, 3]"),
            std::string::npos)
      << message;
  EXPECT_NE(message.find("0 missing, 0 unexpected"), std::string::npos) << message;
  // Nothing is copied when the set does not match.
  EXPECT_TRUE(torch::equal(model.named_parameters()["encoder.conv_in.weight"], before));

  // A VQ model reading KL weights: the codebook is missing, quant_conv's shape differs.
  Autoencoder vq(vq_tiny_config());
  const std::string vq_message = load_error(vq, weights);
  EXPECT_NE(vq_message.find("missing: first_stage_model.quantize.embedding.weight"), std::string::npos) << vq_message;
  EXPECT_NE(vq_message.find("first_stage_model.quant_conv.weight: got [8, 8, 1, 1], expected [3, 3, 1, 1]"),
            std::string::npos)
      << vq_message;
}

TEST_F(AutoencoderTest, LoaderRejectsMissingAndUnexpectedTensors) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "kl_tiny.weights.index.json").string());
  testing::TempDir dir;
  const std::vector<TensorData> extra = {
      TensorData::from_floats("first_stage_model.loss.logvar", {1}, {0.0f}),
      TensorData::from_floats("first_stage_model.extra.weight", {2}, {1.0f, 2.0f}),
      TensorData::from_floats("model.diffusion_model.out.0.weight", {1}, {1.0f}),
  };
  const std::string path = (dir / "partial.safetensors").string();
  write_safetensors(path, rewritten(weights, DType::kF32, "first_stage_model.decoder.conv_out.bias", extra));
  const WeightsSet partial = WeightsSet::open(path);

  Autoencoder model(kl_tiny_config());
  const std::string message = load_error(model, partial);
  ASSERT_FALSE(message.empty());
  EXPECT_NE(message.find("1 missing, 1 unexpected, 0 wrongly shaped"), std::string::npos) << message;
  EXPECT_NE(message.find("missing: first_stage_model.decoder.conv_out.bias"), std::string::npos) << message;
  EXPECT_NE(message.find("unexpected: first_stage_model.extra.weight"), std::string::npos) << message;
  EXPECT_EQ(message.find("loss.logvar"), std::string::npos) << message;
  EXPECT_EQ(message.find("diffusion_model"), std::string::npos) << message;

  // Without "loss." ignored, the training-only tensor is unexpected too.
  const std::string strict = load_error(model, partial, {});
  EXPECT_NE(strict.find("unexpected: first_stage_model.loss.logvar"), std::string::npos) << strict;
}

TEST_F(AutoencoderTest, LoaderConvertsHalfPrecision) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "kl_tiny.weights.index.json").string());
  testing::TempDir dir;
  for (DType dtype : {DType::kF16, DType::kBF16}) {
    const std::string path = (dir / "half.safetensors").string();
    write_safetensors(path, rewritten(weights, dtype, ""));
    const WeightsSet half = WeightsSet::open(path);
    Autoencoder model(kl_tiny_config());
    load_weights(model, half, kPrefix);
    const std::string name = "decoder.mid.attn_1.q.weight";
    const torch::Tensor loaded = model.named_parameters()[name];
    EXPECT_EQ(loaded.scalar_type(), torch::kFloat32);
    const torch::Tensor expected = model::to_torch(half.at(kPrefix + name)).to(torch::kFloat32);
    EXPECT_TRUE(torch::equal(loaded, expected)) << dtype_name(dtype);
    const torch::Tensor full = model::to_torch(weights.at(kPrefix + name)).to(torch::kFloat32);
    EXPECT_LE(testing::max_abs_diff(loaded, full), dtype == DType::kF16 ? 1e-2 : 5e-2) << dtype_name(dtype);
  }
}

}  // namespace
}  // namespace tessera::model
