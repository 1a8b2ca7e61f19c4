#include "model/unet.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/safetensors.h"
#include "model/state_dict_loader.h"
#include "parity_support.h"
#include "test_support.h"

namespace tessera::model {
namespace {

const std::string kPrefix = "model.diffusion_model.";

// Pinned from shared/data/parity/unet_tiny.yaml.
UNetConfig unet_tiny_config() {
  UNetConfig config;
  config.image_size = 16;
  config.in_channels = 3;
  config.out_channels = 3;
  config.model_channels = 32;
  config.attention_resolutions = {2};
  config.num_res_blocks = 1;
  config.channel_mult = {1, 2};
  config.num_heads = 1;
  config.use_spatial_transformer = true;
  config.transformer_depth = 1;
  config.context_dim = 64;
  return config;
}

// PathLDM's text-conditioned UNet (its LDM yaml's unet_config).
UNetConfig pathldm_config() {
  UNetConfig config;
  config.image_size = 64;
  config.in_channels = 3;
  config.out_channels = 3;
  config.model_channels = 192;
  config.attention_resolutions = {8, 4, 2};
  config.num_res_blocks = 2;
  config.channel_mult = {1, 2, 3, 5};
  config.num_heads = 1;
  config.use_spatial_transformer = true;
  config.transformer_depth = 1;
  config.context_dim = 512;
  return config;
}

class UNetTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(2); }
};

TEST_F(UNetTest, ConfigValidation) {
  EXPECT_NO_THROW(unet_tiny_config().validate());
  EXPECT_NO_THROW(pathldm_config().validate());
  UNetConfig config = unet_tiny_config();
  config.model_channels = 48;
  EXPECT_THROW(config.validate(), ConfigError);
  config = unet_tiny_config();
  config.context_dim = -1;
  EXPECT_THROW(config.validate(), ConfigError);
  config = unet_tiny_config();
  config.use_spatial_transformer = false;
  EXPECT_THROW(config.validate(), ConfigError);  // context_dim without a transformer
  config = unet_tiny_config();
  config.num_heads = -1;
  EXPECT_THROW(config.validate(), ConfigError);  // neither heads nor head channels
  config.num_head_channels = 24;
  EXPECT_THROW(config.validate(), ConfigError);  // 24 does not divide 64
  config.num_head_channels = 16;
  EXPECT_NO_THROW(config.validate());
  config = unet_tiny_config();
  config.dims = 3;
  EXPECT_THROW(config.validate(), ConfigError);
  config = unet_tiny_config();
  config.channel_mult = {2, 4};
  EXPECT_THROW(config.validate(), ConfigError);
  EXPECT_THROW(UNet{config}, ConfigError);
}

TEST_F(UNetTest, TimestepEmbeddingIsCosThenSin) {
  const torch::Tensor t = torch::tensor({0.0, 3.0}, torch::kFloat64);
  const torch::Tensor embedding = timestep_embedding(t, 8);
  ASSERT_EQ(embedding.sizes(), (std::vector<int64_t>{2, 8}));
  for (int64_t i = 0; i < 4; ++i) {
    const double freq = std::exp(-std::log(10000.0) * static_cast<double>(i) / 4.0);
    EXPECT_NEAR(embedding[0][i].item<double>(), 1.0, 1e-7);
    EXPECT_NEAR(embedding[0][4 + i].item<double>(), 0.0, 1e-7);
    EXPECT_NEAR(embedding[1][i].item<double>(), std::cos(3.0 * freq), 1e-6);
    EXPECT_NEAR(embedding[1][4 + i].item<double>(), std::sin(3.0 * freq), 1e-6);
  }
  const torch::Tensor odd = timestep_embedding(t, 7);
  ASSERT_EQ(odd.sizes(), (std::vector<int64_t>{2, 7}));
  EXPECT_EQ(odd.select(1, 6).abs().max().item<double>(), 0.0);
}

// Upstream's names for the tiny fixture's layout: conv_in, ResBlock,
// Downsample `op`, ResBlock with a 1x1 skip and a SpatialTransformer; the
// output path's last block of level 1 carries the Upsample `conv`.
TEST_F(UNetTest, ParameterNamesFollowUpstream) {
  UNet unet(unet_tiny_config());
  const auto named = unet.named_parameters();
  for (const char* name :
       {"time_embed.0.weight", "time_embed.2.bias", "input_blocks.0.0.weight", "input_blocks.1.0.in_layers.0.weight",
        "input_blocks.1.0.in_layers.2.weight", "input_blocks.1.0.emb_layers.1.weight",
        "input_blocks.1.0.out_layers.3.bias", "input_blocks.2.0.op.weight", "input_blocks.3.0.skip_connection.weight",
        "input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight",
        "input_blocks.3.1.transformer_blocks.0.ff.net.0.proj.weight",
        "input_blocks.3.1.transformer_blocks.0.ff.net.2.bias", "middle_block.1.proj_in.weight",
        "middle_block.2.out_layers.0.weight", "output_blocks.1.2.conv.weight", "out.0.weight", "out.2.bias"}) {
    EXPECT_NE(named.find(name), nullptr) << name;
  }
  EXPECT_EQ(named.find("input_blocks.3.1.transformer_blocks.0.attn1.to_q.bias"), nullptr);  // q/k/v without bias
  EXPECT_EQ(named["input_blocks.3.1.transformer_blocks.0.attn2.to_k.weight"].sizes(),
            (std::vector<int64_t>{64, 64}));  // context_dim 64 -> 64 channels, one head
  EXPECT_EQ(named["input_blocks.3.1.transformer_blocks.0.ff.net.0.proj.weight"].sizes(),
            (std::vector<int64_t>{512, 64}));                                                     // GEGLU: 2 * 4 * dim
  EXPECT_EQ(named["output_blocks.0.0.in_layers.0.weight"].sizes(), (std::vector<int64_t>{128}));  // 64 + 64 skip
}

// A legacy AttentionBlock UNet (no spatial transformer) builds with upstream's
// qkv / proj_out Conv1d shapes and runs with scale-shift norm and resblock
// up/down sampling, keeping the input's shape.
TEST_F(UNetTest, AttentionBlockVariantRuns) {
  UNetConfig config;
  config.image_size = 8;
  config.in_channels = 4;
  config.out_channels = 4;
  config.model_channels = 32;
  config.attention_resolutions = {2};
  config.num_res_blocks = 1;
  config.channel_mult = {1, 2};
  config.num_head_channels = 16;
  config.use_scale_shift_norm = true;
  config.resblock_updown = true;
  UNet unet(config);
  unet.eval();
  const auto named = unet.named_parameters();
  EXPECT_EQ(named["input_blocks.3.1.qkv.weight"].sizes(), (std::vector<int64_t>{192, 64, 1}));
  EXPECT_EQ(named["input_blocks.3.1.proj_out.weight"].sizes(), (std::vector<int64_t>{64, 64, 1}));
  EXPECT_EQ(named["input_blocks.1.0.emb_layers.1.weight"].sizes(), (std::vector<int64_t>{64, 128}));  // scale, shift
  EXPECT_EQ(named.find("input_blocks.2.0.op.weight"), nullptr);  // a ResBlock downsamples instead
  EXPECT_NE(named.find("input_blocks.2.0.in_layers.2.weight"), nullptr);
  torch::NoGradGuard no_grad;
  const torch::Tensor x = torch::randn({2, 4, 8, 8});
  const torch::Tensor eps = unet.forward(x, torch::tensor({1, 999}, torch::kInt64));
  EXPECT_EQ(eps.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(eps).all().item<bool>());
}

// PathLDM's text-conditioned UNet: 400.9 M parameters (the exact count also
// agrees with a closed-form sum over upstream's layer shapes).
TEST_F(UNetTest, PathLdmParameterCount) {
  const UNet unet(pathldm_config());
  const int64_t count = testing::parameter_count(unet);
  std::printf("  PathLDM UNet parameters: %lld\n", static_cast<long long>(count));
  EXPECT_EQ(count, 400920579);
  EXPECT_EQ(std::lround(static_cast<double>(count) / 1e5), 4009);  // 400.9 M
}

TEST_F(UNetTest, TinyUNetMatchesUpstream) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const std::filesystem::path parity = data / "parity";
  const WeightsSet weights = WeightsSet::open((parity / "unet_tiny.weights.index.json").string());
  const SafetensorsFile io = SafetensorsFile::open((parity / "unet_tiny.io.safetensors").string());

  UNet unet(unet_tiny_config());
  load_weights(unet, weights, kPrefix);                // strict: every fixture key is a parameter and vice versa
  EXPECT_EQ(testing::parameter_count(unet), 1001251);  // the index's total_parameters
  unet.eval();
  torch::NoGradGuard no_grad;

  UNetTrace trace;
  const torch::Tensor eps = unet.forward(testing::fixture_tensor(io, "x"), testing::fixture_tensor(io, "timesteps"),
                                         testing::fixture_tensor(io, "context"), &trace);
  testing::expect_parity(io, "t_emb", trace.t_emb);
  testing::expect_parity(io, "emb", trace.emb);
  ASSERT_EQ(trace.input_blocks.size(), 4u);
  for (size_t i = 0; i < trace.input_blocks.size(); ++i) {
    testing::expect_parity(io, "debug.input_blocks." + std::to_string(i), trace.input_blocks[i]);
  }
  testing::expect_parity(io, "debug.middle_block", trace.middle_block);
  ASSERT_EQ(trace.output_blocks.size(), 4u);
  for (size_t i = 0; i < trace.output_blocks.size(); ++i) {
    testing::expect_parity(io, "debug.output_blocks." + std::to_string(i), trace.output_blocks[i]);
  }
  testing::expect_parity(io, "eps", eps);

  // Without a trace the result is the same.
  EXPECT_EQ(
      testing::max_abs_diff(unet.forward(testing::fixture_tensor(io, "x"), testing::fixture_tensor(io, "timesteps"),
                                         testing::fixture_tensor(io, "context")),
                            eps),
      0.0);
}

TEST_F(UNetTest, GradientCheckpointingGivesTheSameGradients) {
  torch::manual_seed(3);
  UNet unet(unet_tiny_config());
  unet.train();
  const auto x = torch::randn({2, 3, 16, 16});
  const auto t = torch::tensor({10, 900}, torch::kInt64);
  const auto context = torch::randn({2, 5, 64});
  const auto gradients = [&](bool checkpointing) {
    unet.set_gradient_checkpointing(checkpointing);
    unet.zero_grad();
    unet.forward(x, t, context).square().mean().backward();
    std::vector<torch::Tensor> grads;
    for (const auto& p : unet.parameters()) grads.push_back(p.grad().clone());
    return grads;
  };
  const auto plain = gradients(false);
  const auto recomputed = gradients(true);
  ASSERT_EQ(plain.size(), recomputed.size());
  for (size_t i = 0; i < plain.size(); ++i) {
    ASSERT_TRUE(recomputed[i].defined());
    EXPECT_LE((plain[i] - recomputed[i]).abs().max().item<float>(), 1e-6f + 1e-5f * plain[i].abs().max().item<float>())
        << "parameter " << i;
  }
  // The block really ran through the checkpoint function.
  const CheckpointedBlock square = [](const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor&) {
    return a * a + b;
  };
  const auto a = torch::randn({3}, torch::requires_grad());
  const auto b = torch::randn({3}, torch::requires_grad());
  const auto out = checkpointed(square, a, b, torch::Tensor());
  EXPECT_NE(out.grad_fn()->name().find("CheckpointFunction"), std::string::npos) << out.grad_fn()->name();
  out.sum().backward();
  EXPECT_TRUE(torch::allclose(a.grad(), 2 * a.detach()));
  EXPECT_TRUE(torch::allclose(b.grad(), torch::ones({3})));
}

TEST_F(UNetTest, LoadRejectsAMissingKey) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const WeightsSet weights = WeightsSet::open((data / "parity" / "unet_tiny.weights.index.json").string());
  UNetConfig config = unet_tiny_config();
  config.num_res_blocks = 2;  // more blocks than the fixture holds
  UNet unet(config);
  EXPECT_THROW(load_weights(unet, weights, kPrefix), WeightsError);
}

}  // namespace
}  // namespace tessera::model
