#include "config/ldm_config.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <sstream>
#include <vector>

#include "base/error.h"
#include "config/fingerprint.h"
#include "model/safetensors.h"
#include "test_data.h"

namespace tessera::config {
namespace {
namespace fs = std::filesystem;
using model::AutoencoderConfig;
using model::AutoencoderKind;
using model::ClipTextConfig;
using model::DType;
using model::TensorData;
using model::UNetConfig;
using model::WeightsSet;

fs::path schema(const std::string& name) { return fs::path(TESSERA_SOURCE_DIR) / "schemas" / "ldm" / name; }

std::string read_text(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

LdmConfig read_schema(const std::string& name) { return read_ldm_config(schema(name).string()); }

std::string error_of(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  return "(no error)";
}

void expect_vq_f4(const AutoencoderConfig& c) {
  EXPECT_EQ(c.kind, AutoencoderKind::kVq);
  EXPECT_EQ(c.embed_dim, 3);
  EXPECT_EQ(c.n_embed, 8192);
  EXPECT_EQ(c.ch, 128);
  EXPECT_EQ(c.ch_mult, (std::vector<int64_t>{1, 2, 4}));
  EXPECT_EQ(c.num_res_blocks, 2);
  EXPECT_EQ(c.z_channels, 3);
  EXPECT_FALSE(c.double_z);
  EXPECT_EQ(c.resolution, 256);
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_ch, 3);
  EXPECT_TRUE(c.attn_resolutions.empty());
  EXPECT_EQ(c.dropout, 0.0);
  EXPECT_EQ(c.scale_factor, 1.0);
}

void expect_tiny_vq(const AutoencoderConfig& c) {
  EXPECT_EQ(c.kind, AutoencoderKind::kVq);
  EXPECT_EQ(c.embed_dim, 3);
  EXPECT_EQ(c.n_embed, 64);
  EXPECT_EQ(c.ch, 32);
  EXPECT_EQ(c.ch_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.num_res_blocks, 1);
  EXPECT_EQ(c.z_channels, 3);
  EXPECT_FALSE(c.double_z);
  EXPECT_EQ(c.resolution, 32);
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_ch, 3);
  EXPECT_TRUE(c.attn_resolutions.empty());
  EXPECT_EQ(c.dropout, 0.0);
}

void expect_tiny_kl(const AutoencoderConfig& c) {
  EXPECT_EQ(c.kind, AutoencoderKind::kKl);
  EXPECT_EQ(c.embed_dim, 4);
  EXPECT_EQ(c.n_embed, 0);
  EXPECT_EQ(c.ch, 32);
  EXPECT_EQ(c.ch_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(c.num_res_blocks, 1);
  EXPECT_EQ(c.z_channels, 4);
  EXPECT_TRUE(c.double_z);
  EXPECT_EQ(c.resolution, 32);
  EXPECT_TRUE(c.attn_resolutions.empty());
  EXPECT_EQ(c.scale_factor, 1.0);
}

void expect_first_stage_only(const LdmConfig& config) {
  EXPECT_FALSE(config.unet);
  EXPECT_FALSE(config.cond_stage);
  ASSERT_TRUE(config.first_stage);
}

TEST(LdmConfig, VqF4) {
  const LdmConfig config = read_schema("vq-f4.yaml");
  expect_first_stage_only(config);
  expect_vq_f4(*config.first_stage);
}

TEST(LdmConfig, KlF8) {
  const LdmConfig config = read_schema("kl-f8.yaml");
  expect_first_stage_only(config);
  const AutoencoderConfig& c = *config.first_stage;
  EXPECT_EQ(c.kind, AutoencoderKind::kKl);
  EXPECT_EQ(c.embed_dim, 4);
  EXPECT_EQ(c.z_channels, 4);
  EXPECT_TRUE(c.double_z);
  EXPECT_EQ(c.ch, 128);
  EXPECT_EQ(c.ch_mult, (std::vector<int64_t>{1, 2, 4, 4}));
  EXPECT_EQ(c.num_res_blocks, 2);
  EXPECT_EQ(c.resolution, 256);
  EXPECT_EQ(c.in_channels, 3);
  EXPECT_EQ(c.out_ch, 3);
  EXPECT_TRUE(c.attn_resolutions.empty());
  EXPECT_EQ(c.scale_factor, 1.0);
}

TEST(LdmConfig, TinyFirstStages) {
  const LdmConfig vq = read_schema("tiny-vq.yaml");
  expect_first_stage_only(vq);
  expect_tiny_vq(*vq.first_stage);
  const LdmConfig kl = read_schema("tiny-kl.yaml");
  expect_first_stage_only(kl);
  expect_tiny_kl(*kl.first_stage);
}

TEST(LdmConfig, PathLdm) {
  const LdmConfig config = read_schema("pathldm.yaml");
  const DiffusionParams& d = config.diffusion;
  EXPECT_EQ(d.timesteps, 1000);
  EXPECT_EQ(d.linear_start, 0.0015);
  EXPECT_EQ(d.linear_end, 0.0195);
  EXPECT_EQ(d.beta_schedule, "linear");
  EXPECT_EQ(d.cosine_s, 8e-3);
  EXPECT_EQ(d.parameterization, Parameterization::kEps);
  EXPECT_EQ(d.scale_factor, 1.0);
  EXPECT_FALSE(d.scale_by_std);
  EXPECT_EQ(d.conditioning_key, "crossattn");
  EXPECT_FALSE(d.unconditional);
  EXPECT_EQ(d.first_stage_key, "image");
  EXPECT_EQ(d.cond_stage_key, "caption");
  EXPECT_EQ(d.image_size, 64);
  EXPECT_EQ(d.channels, 3);
  EXPECT_EQ(d.v_posterior, 0.0);
  EXPECT_TRUE(d.clip_denoised);

  ASSERT_TRUE(config.first_stage);
  expect_vq_f4(*config.first_stage);

  ASSERT_TRUE(config.unet);
  const UNetConfig& u = *config.unet;
  EXPECT_EQ(u.image_size, 64);
  EXPECT_EQ(u.in_channels, 3);
  EXPECT_EQ(u.out_channels, 3);
  EXPECT_EQ(u.model_channels, 192);
  EXPECT_EQ(u.attention_resolutions, (std::vector<int64_t>{8, 4, 2}));
  EXPECT_EQ(u.num_res_blocks, 2);
  EXPECT_EQ(u.channel_mult, (std::vector<int64_t>{1, 2, 3, 5}));
  EXPECT_EQ(u.num_heads, 1);
  EXPECT_EQ(u.num_head_channels, -1);
  EXPECT_EQ(u.num_heads_upsample, -1);
  EXPECT_TRUE(u.use_spatial_transformer);
  EXPECT_EQ(u.transformer_depth, 1);
  EXPECT_EQ(u.context_dim, 512);
  EXPECT_TRUE(u.legacy);
  EXPECT_TRUE(u.conv_resample);
  EXPECT_EQ(u.dims, 2);
  EXPECT_FALSE(u.use_scale_shift_norm);
  EXPECT_FALSE(u.resblock_updown);
  EXPECT_EQ(u.dropout, 0.0);

  ASSERT_TRUE(config.cond_stage);
  const CondStageConfig& c = *config.cond_stage;
  EXPECT_EQ(c.target, "ldm.modules.encoders.modules.FrozenCLIPEmbedder");
  EXPECT_EQ(c.version, "openai/clip-vit-base-patch32");
  EXPECT_EQ(c.max_length, 154);
  EXPECT_EQ(c.text, ClipTextConfig::known("openai/clip-vit-base-patch32"));
  EXPECT_EQ(c.text.hidden_size, 512);
}

TEST(LdmConfig, TinyLdm) {
  const LdmConfig config = read_schema("tiny-ldm.yaml");
  EXPECT_EQ(config.diffusion.timesteps, 1000);
  EXPECT_EQ(config.diffusion.linear_start, 0.0015);
  EXPECT_EQ(config.diffusion.linear_end, 0.0195);
  EXPECT_EQ(config.diffusion.conditioning_key, "crossattn");
  EXPECT_EQ(config.diffusion.image_size, 16);
  EXPECT_EQ(config.diffusion.channels, 3);
  ASSERT_TRUE(config.first_stage);
  expect_tiny_vq(*config.first_stage);
  ASSERT_TRUE(config.unet);
  EXPECT_EQ(config.unet->image_size, 16);
  EXPECT_EQ(config.unet->in_channels, 3);
  EXPECT_EQ(config.unet->out_channels, 3);
  EXPECT_EQ(config.unet->model_channels, 32);
  EXPECT_EQ(config.unet->attention_resolutions, (std::vector<int64_t>{2}));
  EXPECT_EQ(config.unet->num_res_blocks, 1);
  EXPECT_EQ(config.unet->channel_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(config.unet->num_heads, 1);
  EXPECT_TRUE(config.unet->use_spatial_transformer);
  EXPECT_EQ(config.unet->context_dim, 512);
  ASSERT_TRUE(config.cond_stage);
  EXPECT_EQ(config.cond_stage->version, "openai/clip-vit-base-patch32");
  EXPECT_EQ(config.cond_stage->max_length, 77);
}

// A Stable Diffusion v1 style inference config: a cond stage without params
// takes FrozenCLIPEmbedder's defaults, absent ddconfig / UNet keys take
// upstream's defaults, and a scale_factor reaches the first stage.
TEST(LdmConfig, StableDiffusionStyleDefaults) {
  const LdmConfig config = parse_ldm_config(R"(model:
  base_learning_rate: 1.0e-04
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    num_timesteps_cond: 1
    log_every_t: 200
    timesteps: 1000
    first_stage_key: "jpg"
    cond_stage_key: "txt"
    image_size: 64
    channels: 4
    cond_stage_trainable: false
    conditioning_key: crossattn
    monitor: val/loss_simple_ema
    scale_factor: 0.18215
    use_ema: False
    scheduler_config:
      target: ldm.lr_scheduler.LambdaLinearScheduler
      params: {warm_up_steps: [10000], cycle_lengths: [10000000000000], f_start: [1.e-6], f_max: [1.], f_min: [1.]}
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 32
        in_channels: 4
        out_channels: 4
        model_channels: 320
        attention_resolutions: [4, 2, 1]
        num_res_blocks: 2
        channel_mult: [1, 2, 4, 4]
        num_heads: 8
        use_spatial_transformer: True
        transformer_depth: 1
        context_dim: 768
        use_checkpoint: True
        legacy: False
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        monitor: val/rec_loss
        ddconfig:
          z_channels: 4
          resolution: 256
          in_channels: 3
          out_ch: 3
          ch: 128
          num_res_blocks: 2
          attn_resolutions: []
        lossconfig:
          target: torch.nn.Identity
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
data:
  target: main.DataModuleFromConfig
lightning:
  trainer: {benchmark: true}
)",
                                            "sd.yaml");
  EXPECT_EQ(config.diffusion.scale_factor, 0.18215);
  EXPECT_EQ(config.diffusion.linear_start, 0.00085);
  EXPECT_EQ(config.diffusion.first_stage_key, "jpg");
  ASSERT_TRUE(config.first_stage);
  EXPECT_EQ(config.first_stage->scale_factor, 0.18215);
  EXPECT_EQ(config.first_stage->ch_mult, (std::vector<int64_t>{1, 2, 4, 8}));
  EXPECT_TRUE(config.first_stage->double_z);
  ASSERT_TRUE(config.unet);
  EXPECT_FALSE(config.unet->legacy);
  EXPECT_EQ(config.unet->num_heads, 8);
  ASSERT_TRUE(config.cond_stage);
  EXPECT_EQ(config.cond_stage->version, "openai/clip-vit-large-patch14");
  EXPECT_EQ(config.cond_stage->max_length, 77);
  EXPECT_EQ(config.cond_stage->text.hidden_size, 768);
}

TEST(LdmConfig, UnconditionalAndConcatDefaults) {
  std::string text = read_text(schema("tiny-ldm.yaml"));
  const size_t cond = text.find("    cond_stage_config:");
  ASSERT_NE(cond, std::string::npos);
  const std::string unconditional = text.substr(0, cond) + "    cond_stage_config: __is_unconditional__\n";
  LdmConfig config = parse_ldm_config(unconditional, "u.yaml");
  EXPECT_TRUE(config.diffusion.unconditional);
  EXPECT_EQ(config.diffusion.conditioning_key, "");
  EXPECT_FALSE(config.cond_stage);

  // LatentDiffusion turns an absent conditioning_key into concat, or
  // crossattn when concat_mode is false.
  std::string no_key = text;
  const std::string line = "    conditioning_key: crossattn\n";
  no_key.erase(no_key.find(line), line.size());
  EXPECT_EQ(parse_ldm_config(no_key, "c.yaml").diffusion.conditioning_key, "concat");
  no_key.insert(no_key.find("    unet_config:"), "    concat_mode: false\n");
  EXPECT_EQ(parse_ldm_config(no_key, "c.yaml").diffusion.conditioning_key, "crossattn");
}

TEST(LdmConfig, ParityFixtures) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const fs::path parity = data / "parity";

  const LdmConfig vq = read_ldm_config((parity / "vq_tiny.yaml").string());
  expect_first_stage_only(vq);
  expect_tiny_vq(*vq.first_stage);

  const LdmConfig kl = read_ldm_config((parity / "kl_tiny.yaml").string());
  expect_first_stage_only(kl);
  expect_tiny_kl(*kl.first_stage);
  EXPECT_EQ(kl.first_stage->in_channels, 3);
  EXPECT_EQ(kl.first_stage->out_ch, 3);
  EXPECT_EQ(kl.first_stage->dropout, 0.0);

  const LdmConfig unet = read_ldm_config((parity / "unet_tiny.yaml").string());
  EXPECT_FALSE(unet.first_stage);
  EXPECT_FALSE(unet.cond_stage);
  EXPECT_EQ(unet.diffusion.timesteps, 1000);
  EXPECT_EQ(unet.diffusion.linear_start, 0.0015);
  EXPECT_EQ(unet.diffusion.linear_end, 0.0195);
  EXPECT_EQ(unet.diffusion.beta_schedule, "linear");
  ASSERT_TRUE(unet.unet);
  const UNetConfig& u = *unet.unet;
  EXPECT_EQ(u.image_size, 16);
  EXPECT_EQ(u.in_channels, 3);
  EXPECT_EQ(u.out_channels, 3);
  EXPECT_EQ(u.model_channels, 32);
  EXPECT_EQ(u.attention_resolutions, (std::vector<int64_t>{2}));
  EXPECT_EQ(u.num_res_blocks, 1);
  EXPECT_EQ(u.channel_mult, (std::vector<int64_t>{1, 2}));
  EXPECT_EQ(u.num_heads, 1);
  EXPECT_TRUE(u.use_spatial_transformer);
  EXPECT_EQ(u.transformer_depth, 1);
  EXPECT_EQ(u.context_dim, 64);
}

// An edit of pathldm.yaml and the message it must produce.
struct ErrorCase {
  const char* what;
  std::string from;
  std::string to;
  std::string message;
};

const std::vector<ErrorCase>& error_cases() {
  static const std::vector<ErrorCase> cases = {
      {"unknown unet key", "num_heads: 1", "num_heds: 1",
       "x.yaml: model.params.unet_config.params.num_heds: unknown key"},
      {"unknown top-level key", "model:\n", "extra: 1\nmodel:\n", "x.yaml: extra: unknown key"},
      {"unknown diffusion key", "    timesteps: 1000\n", "    timesteps: 1000\n    timestep: 1000\n",
       "x.yaml: model.params.timestep: unknown key"},
      {"unknown cond key", "max_length: 154", "max_length: 154\n        layer: last",
       "x.yaml: model.params.cond_stage_config.params.layer: unknown key"},
      {"unknown first stage key in KL params", "n_embed: 8192", "n_embed: 8192\n        beta: 0.25",
       "x.yaml: model.params.first_stage_config.params.beta: unknown key"},
      {"duplicate key", "    timesteps: 1000\n", "    timesteps: 1000\n    timesteps: 500\n",
       "x.yaml: model.params.timesteps: duplicate key"},
      {"float for int", "model_channels: 192", "model_channels: 192.5",
       "x.yaml: model.params.unet_config.params.model_channels: expected an integer, got '192.5'"},
      {"quoted int", "timesteps: 1000", "timesteps: \"1000\"",
       "x.yaml: model.params.timesteps: expected an integer, got '1000'"},
      {"int for bool", "use_spatial_transformer: true", "use_spatial_transformer: 1",
       "x.yaml: model.params.unet_config.params.use_spatial_transformer: expected true or false, got '1'"},
      {"scalar for list", "channel_mult: [1, 2, 3, 5]", "channel_mult: 5",
       "x.yaml: model.params.unet_config.params.channel_mult: expected a list of integers, got '5'"},
      {"bad list item", "attention_resolutions: [8, 4, 2]", "attention_resolutions: [8, x, 2]",
       "x.yaml: model.params.unet_config.params.attention_resolutions[1]: expected an integer, got 'x'"},
      {"word for number", "linear_start: 0.0015", "linear_start: low",
       "x.yaml: model.params.linear_start: expected a number, got 'low'"},
      {"number for string", "version: openai/clip-vit-base-patch32", "version: 32",
       "x.yaml: model.params.cond_stage_config.params.version: expected a string, got '32'"},
      {"list for mapping", "        ddconfig:\n", "        ddconfig: [1]\n        ddconfig_old:\n",
       "x.yaml: model.params.first_stage_config.params.ddconfig: expected a mapping, got a list"},
      {"integer overflow", "timesteps: 1000", "timesteps: 99999999999999999999",
       "x.yaml: model.params.timesteps: integer '99999999999999999999' is out of range"},
      {"huge codebook", "n_embed: 8192", "n_embed: 99999999999999",
       "x.yaml: model.params.first_stage_config.params.n_embed: must be within 1..1048576, got 99999999999999"},
      {"huge width", "model_channels: 192", "model_channels: 1000000",
       "x.yaml: model.params.unet_config.params.model_channels: must be within 1..8192, got 1000000"},
      {"huge level width", "channel_mult: [1, 2, 3, 5]", "channel_mult: [1, 2, 3, 500]",
       "x.yaml: model.params.unet_config.params.channel_mult[3]: gives level 3 192 × 500 channels, more than 8192"},
      {"huge first-stage side", "resolution: 256", "resolution: 4000000000",
       "x.yaml: model.params.first_stage_config.params.ddconfig.resolution: must be within 1..16384, got 4000000000"},
      {"learning rate out of range", "base_learning_rate: 2.0e-06", "base_learning_rate: 1.0e+30",
       "x.yaml: model.base_learning_rate: must be within (0, 1]"},
      {"dropout above one", "dropout: 0.0", "dropout: 5.0",
       "x.yaml: model.params.first_stage_config.params.ddconfig.dropout: must be within [0, 1]"},
      {"no timesteps", "timesteps: 1000", "timesteps: 0",
       "x.yaml: model.params.timesteps: must be within 1..100000, got 0"},
      {"negative heads", "num_heads: 1", "num_heads: -5",
       "x.yaml: model.params.unet_config.params.num_heads: must be within -1..8192, got -5"},
      {"missing n_embed", "        n_embed: 8192\n", "",
       "x.yaml: model.params.first_stage_config.params.n_embed: missing required key"},
      {"missing ddconfig.ch", "          ch: 128\n", "",
       "x.yaml: model.params.first_stage_config.params.ddconfig.ch: missing required key"},
      {"missing model_channels", "        model_channels: 192\n", "",
       "x.yaml: model.params.unet_config.params.model_channels: missing required key"},
      {"missing cond target", "      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder\n", "",
       "x.yaml: model.params.cond_stage_config.target: missing required key"},
      {"unknown model target", "target: ldm.models.diffusion.ddpm.LatentDiffusion",
       "target: ldm.models.diffusion.ddpm.DDPM",
       "x.yaml: model.target: unknown target 'ldm.models.diffusion.ddpm.DDPM'"},
      {"unknown first stage target", "target: ldm.models.autoencoder.VQModelInterface",
       "target: taming.models.vqgan.VQModel",
       "x.yaml: model.params.first_stage_config.target: unknown target 'taming.models.vqgan.VQModel'"},
      {"unknown unet target", "target: ldm.modules.diffusionmodules.openaimodel.UNetModel",
       "target: ldm.modules.diffusionmodules.openaimodel.EncoderUNetModel",
       "x.yaml: model.params.unet_config.target: unknown target"},
      {"unknown cond target", "target: ldm.modules.encoders.modules.FrozenCLIPEmbedder",
       "target: ldm.modules.encoders.modules.BERTEmbedder",
       "x.yaml: model.params.cond_stage_config.target: unknown target"},
      {"first-stage cond", "    cond_stage_config:\n", "    cond_stage_config: __is_first_stage__\n    old_cond:\n",
       "x.yaml: model.params.cond_stage_config: unknown value '__is_first_stage__'"},
      {"bad max_length", "max_length: 154", "max_length: 100",
       "x.yaml: model.params.cond_stage_config.params.max_length: must be 77 or 154"},
      {"max_length type", "max_length: 154", "max_length: long",
       "x.yaml: model.params.cond_stage_config.params.max_length: expected an integer, got 'long'"},
      {"unknown CLIP version", "version: openai/clip-vit-base-patch32", "version: openai/clip-vit-huge",
       "x.yaml: model.params.cond_stage_config.params.version: unknown CLIP version 'openai/clip-vit-huge'"},
      {"x0 parameterization", "    unet_config:\n", "    parameterization: x0\n    unet_config:\n",
       "x.yaml: model.params.parameterization: unsupported parameterization 'x0'"},
      {"unknown schedule", "    unet_config:\n", "    beta_schedule: quadratic\n    unet_config:\n",
       "x.yaml: model.params.beta_schedule: unknown schedule 'quadratic'"},
      {"unknown conditioning key", "conditioning_key: crossattn", "conditioning_key: film",
       "x.yaml: model.params.conditioning_key: unknown conditioning_key 'film'"},
      {"positional encodings", "    unet_config:\n", "    use_positional_encodings: true\n    unet_config:\n",
       "x.yaml: model.params.use_positional_encodings: only false is supported"},
      {"class conditioning", "        context_dim: 512\n", "        context_dim: 512\n        num_classes: 10\n",
       "x.yaml: model.params.unet_config.params.num_classes: only null is supported, got '10'"},
      {"linear attention", "          dropout: 0.0\n", "          dropout: 0.0\n          attn_type: linear\n",
       "x.yaml: model.params.first_stage_config.params.ddconfig.attn_type: only 'vanilla' is supported"},
      {"VQ with double_z", "double_z: false", "double_z: true",
       "x.yaml: model.params.first_stage_config.params.ddconfig.double_z: a VQ model needs double_z false"},
      {"invalid unet", "model_channels: 192", "model_channels: 100",
       "x.yaml: model.params.unet_config.params: unet config: model_channels must be a positive multiple of 32"},
      {"invalid autoencoder", "ch: 128", "ch: 100",
       "x.yaml: model.params.first_stage_config.params: autoencoder config: ch must be a positive multiple of 32"},
      {"context width", "context_dim: 512", "context_dim: 768",
       "x.yaml: model.params.unet_config.params.context_dim: is 768 but openai/clip-vit-base-patch32 gives a "
       "context of width 512"},
      {"latent channels", "        in_channels: 3\n        out_channels: 3\n",
       "        in_channels: 4\n        out_channels: 3\n",
       "x.yaml: model.params.unet_config.params.in_channels: is 4 but the first stage's latent has 3 channels"},
      {"negative scale", "    unet_config:\n", "    scale_factor: -1.0\n    unet_config:\n",
       "x.yaml: model.params.scale_factor: must be positive"},
      {"explicit tag", "timesteps: 1000", "timesteps: !!str 1000",
       "x.yaml: model.params.timesteps: unsupported YAML tag"},
      {"invalid YAML", "    linear_start: 0.0015\n", "    linear_start: [0.0015\n", "x.yaml: invalid YAML"},
  };
  return cases;
}

TEST(LdmConfig, ErrorsNameTheKeyPath) {
  const std::string base = read_text(schema("pathldm.yaml"));
  ASSERT_NO_THROW(parse_ldm_config(base, "x.yaml"));
  for (const ErrorCase& c : error_cases()) {
    SCOPED_TRACE(c.what);
    const size_t at = base.find(c.from);
    ASSERT_NE(at, std::string::npos);
    ASSERT_EQ(base.find(c.from, at + 1), std::string::npos) << "ambiguous edit";
    std::string text = base;
    text.replace(at, c.from.size(), c.to);
    const std::string message = error_of([&] { parse_ldm_config(text, "x.yaml"); });
    EXPECT_EQ(message.rfind(c.message, 0), 0u) << message;
  }
}

TEST(LdmConfig, OtherErrors) {
  const std::string base = read_text(schema("kl-f8.yaml"));
  std::string text = base;
  text.replace(text.find("embed_dim: 4"), 12, "embed_dim: 4\n    n_embed: 16");
  EXPECT_EQ(error_of([&] { parse_ldm_config(text, "kl.yaml"); }), "kl.yaml: model.params.n_embed: unknown key");
  text = base;
  text.replace(text.find("AutoencoderKL"), 13, "AutoencoderKLX");
  EXPECT_EQ(error_of([&] {
              parse_ldm_config(text, "kl.yaml");
            }).rfind("kl.yaml: model.target: unknown target 'ldm.models.autoencoder.AutoencoderKLX'", 0),
            0u);
  EXPECT_EQ(error_of([&] { parse_ldm_config("[1, 2]", "l.yaml"); }), "l.yaml: expected a mapping, got a list");
  EXPECT_EQ(error_of([&] { parse_ldm_config("data: {}\n", "e.yaml"); }), "e.yaml: model: missing required key");
  EXPECT_EQ(error_of([&] {
              parse_ldm_config(
                  "model:\n  target: ldm.models.diffusion.ddpm.LatentDiffusion\n  params:\n    timesteps: 10\n",
                  "u.yaml");
            }),
            "u.yaml: model.params.unet_config: missing required key");
  const std::string missing = (fs::path(TESSERA_SOURCE_DIR) / "no-such.yaml").string();
  EXPECT_EQ(error_of([&] { read_ldm_config(missing); }), missing + ": cannot open the file");
}

// Fingerprints.

std::vector<float> ramp(size_t n, float start) {
  std::vector<float> values(n);
  for (size_t i = 0; i < n; ++i) values[i] = start + 0.25f * static_cast<float>(i);
  return values;
}

std::vector<TensorData> sample_tensors(const std::string& prefix) {
  return {TensorData::from_floats(prefix + "decoder.conv_in.weight", {2, 3}, ramp(6, 1.0f)),
          TensorData::from_floats(prefix + "decoder.conv_in.bias", {2}, ramp(2, -1.0f)),
          TensorData::from_floats(prefix + "encoder.conv_in.weight", {3, 2}, ramp(6, 0.5f), DType::kF16),
          TensorData::from_int64(prefix + "quantize.step", {1}, {7}),
          TensorData::from_floats("model.diffusion_model.out.bias", {3}, ramp(3, 2.0f))};
}

class Fingerprint : public ::testing::Test {
 protected:
  std::string single(const std::vector<TensorData>& tensors, const std::string& name = "single.safetensors") {
    const fs::path path = dir_ / name;
    model::write_safetensors(path.string(), tensors);
    return path.string();
  }

  // The tensors split over shards: tensor i goes to shard i % shards.
  std::string sharded(const std::vector<TensorData>& tensors, size_t shards, const std::string& stem) {
    std::vector<std::vector<TensorData>> parts(shards);
    std::string weight_map;
    for (size_t i = 0; i < tensors.size(); ++i) {
      const std::string shard = stem + "-" + std::to_string(i % shards) + ".safetensors";
      parts[i % shards].push_back(tensors[i]);
      weight_map += (weight_map.empty() ? "" : ", ") + ("\"" + tensors[i].name + "\": \"" + shard + "\"");
    }
    for (size_t s = 0; s < shards; ++s) {
      model::write_safetensors((dir_ / (stem + "-" + std::to_string(s) + ".safetensors")).string(), parts[s]);
    }
    const fs::path index = dir_ / (stem + ".safetensors.index.json");
    std::ofstream(index) << "{\"metadata\": {\"total_size\": 1}, \"weight_map\": {" << weight_map << "}}";
    return index.string();
  }

  std::string id(const std::string& path, const std::string& prefix = "first_stage_model.") {
    return model_fingerprint(canonical_text(config_), WeightsSet::open(path), prefix);
  }

  testing::TempDir dir_;
  AutoencoderConfig config_;
};

TEST_F(Fingerprint, IsStableAndIndependentOfShards) {
  const std::vector<TensorData> tensors = sample_tensors("first_stage_model.");
  const std::string one = id(single(tensors));
  EXPECT_EQ(one.size(), 32u);
  EXPECT_EQ(one.find_first_not_of("0123456789abcdef"), std::string::npos);
  EXPECT_EQ(id(single(tensors, "again.safetensors")), one);
  EXPECT_EQ(id(sharded(tensors, 2, "two")), one);
  EXPECT_EQ(id(sharded(tensors, 3, "three")), one);
  // Pinned, so that a change of the byte stream (and so of every stored id)
  // is a deliberate one. The value is the one-shot XXH3-128 of the stream
  // fingerprint.h documents, built independently of fingerprint.cpp.
  EXPECT_EQ(one, "cfef1896356c82aa4a6a7a8f262be718");
}

TEST_F(Fingerprint, IgnoresTensorsOutsideThePrefixAndThePrefixItself) {
  std::vector<TensorData> tensors = sample_tensors("first_stage_model.");
  const std::string base = id(single(tensors));
  tensors.back().bytes[0] ^= 1;  // model.diffusion_model.out.bias
  EXPECT_EQ(id(single(tensors, "other.safetensors")), base);
  EXPECT_EQ(id(single(sample_tensors("vae."), "moved.safetensors"), "vae."), base);
  EXPECT_NE(id(single(tensors), "first_stage_model.decoder."), base);
  const std::string missing = single(tensors, "m.safetensors");
  EXPECT_NE(error_of([&] { id(missing, "cond_stage_model."); }).find("no tensor named 'cond_stage_model....'"),
            std::string::npos);
}

TEST_F(Fingerprint, ChangesWithEveryWeightByte) {
  const std::vector<TensorData> tensors = sample_tensors("first_stage_model.");
  const std::string base = id(single(tensors));
  int files = 0;
  for (size_t t = 0; t + 1 < tensors.size(); ++t) {
    for (size_t b = 0; b < tensors[t].bytes.size(); ++b) {
      std::vector<TensorData> changed = tensors;
      changed[t].bytes[b] ^= 0x10;
      EXPECT_NE(id(single(changed, "b" + std::to_string(files++) + ".safetensors")), base)
          << tensors[t].name << " byte " << b;
    }
  }
}

TEST_F(Fingerprint, ChangesWithNameDtypeAndShape) {
  const std::vector<TensorData> tensors = sample_tensors("first_stage_model.");
  const std::string base = id(single(tensors));
  std::vector<TensorData> renamed = tensors;
  renamed[0].name = "first_stage_model.decoder.conv_in.weights";
  EXPECT_NE(id(single(renamed, "n.safetensors")), base);
  std::vector<TensorData> retyped = tensors;
  retyped[0].dtype = DType::kI32;  // same bytes, other dtype
  EXPECT_NE(id(single(retyped, "d.safetensors")), base);
  std::vector<TensorData> reshaped = tensors;
  reshaped[0].shape = {3, 2};
  EXPECT_NE(id(single(reshaped, "s.safetensors")), base);
  std::vector<TensorData> fewer(tensors.begin() + 1, tensors.end());
  EXPECT_NE(id(single(fewer, "f.safetensors")), base);
}

TEST_F(Fingerprint, ChangesWithEveryConfigField) {
  const std::string path = single(sample_tensors("first_stage_model."));
  const WeightsSet weights = WeightsSet::open(path);
  const AutoencoderConfig base;
  const std::string base_id = model_fingerprint(canonical_text(base), weights, "first_stage_model.");
  const std::vector<std::function<void(AutoencoderConfig&)>> edits = {
      [](AutoencoderConfig& c) { c.kind = AutoencoderKind::kVq; },
      [](AutoencoderConfig& c) { c.ch = 64; },
      [](AutoencoderConfig& c) { c.out_ch = 1; },
      [](AutoencoderConfig& c) { c.in_channels = 1; },
      [](AutoencoderConfig& c) { c.resolution = 128; },
      [](AutoencoderConfig& c) { c.z_channels = 3; },
      [](AutoencoderConfig& c) { c.double_z = false; },
      [](AutoencoderConfig& c) {
        c.ch_mult = {1, 2, 4};
      },
      [](AutoencoderConfig& c) { c.num_res_blocks = 1; },
      [](AutoencoderConfig& c) { c.attn_resolutions = {32}; },
      [](AutoencoderConfig& c) { c.dropout = 0.1; },
      [](AutoencoderConfig& c) { c.embed_dim = 3; },
      [](AutoencoderConfig& c) { c.n_embed = 8192; },
      [](AutoencoderConfig& c) { c.scale_factor = 0.18215; },
  };
  std::vector<std::string> ids = {base_id};
  for (const auto& edit : edits) {
    AutoencoderConfig changed = base;
    edit(changed);
    ids.push_back(model_fingerprint(canonical_text(changed), weights, "first_stage_model."));
  }
  std::sort(ids.begin(), ids.end());
  EXPECT_EQ(std::unique(ids.begin(), ids.end()), ids.end());
}

TEST(CanonicalText, ListsEveryFieldInOrder) {
  AutoencoderConfig vq;
  vq.kind = AutoencoderKind::kVq;
  vq.ch_mult = {1, 2, 4};
  vq.double_z = false;
  vq.z_channels = 3;
  vq.embed_dim = 3;
  vq.n_embed = 8192;
  EXPECT_EQ(canonical_text(vq),
            "config=autoencoder\nkind=2:vq\nch=128\nout_ch=3\nin_channels=3\nresolution=256\nz_channels=3\n"
            "double_z=false\nch_mult=[1,2,4]\nnum_res_blocks=2\nattn_resolutions=[]\ndropout=0\nembed_dim=3\n"
            "n_embed=8192\nscale_factor=1\n");
  UNetConfig unet;
  unet.context_dim = 512;
  unet.dropout = 0.1;
  EXPECT_EQ(canonical_text(unet),
            "config=unet\nimage_size=64\nin_channels=4\nout_channels=4\nmodel_channels=128\nattention_resolutions=[]\n"
            "num_res_blocks=2\nchannel_mult=[1,2,4,8]\ndropout=0.1\nconv_resample=true\ndims=2\nnum_heads=-1\n"
            "num_head_channels=-1\nuse_scale_shift_norm=false\nresblock_updown=false\nuse_spatial_transformer=false\n"
            "transformer_depth=1\ncontext_dim=512\nlegacy=true\nnum_heads_upsample=-1\n");
  ClipTextConfig clip = ClipTextConfig::known("openai/clip-vit-base-patch32");
  clip.pad_token_id = std::nullopt;
  EXPECT_EQ(canonical_text(clip),
            "config=clip_text\nvocab_size=49408\nhidden_size=512\nintermediate_size=2048\nnum_hidden_layers=12\n"
            "num_attention_heads=8\nmax_position_embeddings=77\nhidden_act=10:quick_gelu\nlayer_norm_eps=1e-05\n"
            "bos_token_id=49406\neos_token_id=49407\npad_token_id=null\n");
  EXPECT_NE(canonical_text(ClipTextConfig::known("openai/clip-vit-large-patch14")),
            canonical_text(ClipTextConfig::known("openai/clip-vit-base-patch32")));
}

}  // namespace
}  // namespace tessera::config

namespace tessera::config {
namespace {

TEST(TrainingParams, UpstreamKeysAndTheTrainingBlockAreRead) {
  const auto c = read_ldm_config(std::string(TESSERA_SOURCE_DIR) + "/schemas/ldm/tiny-ldm.yaml");
  EXPECT_DOUBLE_EQ(c.training.base_learning_rate, 2e-4);
  EXPECT_TRUE(c.training.use_ema);
  ASSERT_TRUE(c.training.schedule);
  EXPECT_EQ(c.training.schedule->warm_up_steps, std::vector<int64_t>{20});
  EXPECT_EQ(c.training.schedule->cycle_lengths, std::vector<int64_t>{10000000000000});
  EXPECT_DOUBLE_EQ(c.training.schedule->f_start[0], 1e-6);
  EXPECT_EQ(c.training.batch_size, 8);
  EXPECT_DOUBLE_EQ(c.training.gradient_clip_val, 1.0);
  EXPECT_DOUBLE_EQ(c.training.cfg_dropout, 0.1);
  EXPECT_EQ(c.training.sample_steps, 10);

  const std::string base = R"(model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params: {image_size: 8, in_channels: 3, out_channels: 3, model_channels: 32, attention_resolutions: [],
               num_res_blocks: 1, channel_mult: [1], num_heads: 1}
)";
  const auto defaults = parse_ldm_config(base, "d.yaml").training;
  EXPECT_DOUBLE_EQ(defaults.base_learning_rate, 1e-4);
  EXPECT_FALSE(defaults.schedule);
  EXPECT_EQ(defaults.batch_size, 4);
  const auto error = [&](const std::string& extra) {
    try {
      parse_ldm_config(base + extra, "t.yaml");
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string("no error");
  };
  EXPECT_EQ(error("training: {cfg_dropout: 1.5}\n"), "t.yaml: training.cfg_dropout: must be within [0, 1]");
  EXPECT_EQ(error("training: {batch_size: 0}\n"), "t.yaml: training.batch_size: must be within 1..4096, got 0");
  EXPECT_EQ(error("training: {batch_size: 99999999999}\n"),
            "t.yaml: training.batch_size: must be within 1..4096, got 99999999999");
  EXPECT_EQ(error("training: {sample_steps: 1000000000}\n"),
            "t.yaml: training.sample_steps: must be within 1..100000, got 1000000000");
  EXPECT_EQ(error("training: {sample_guidance: 1.0e+30}\n"),
            "t.yaml: training.sample_guidance: must be within [0, 50]");
  EXPECT_EQ(error("training: {flips: true}\n"), "t.yaml: training.flips: unknown key");
}

}  // namespace
}  // namespace tessera::config
