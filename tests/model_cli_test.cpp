// `tessera model keys|info|init|forward` as users run them; forward is checked
// against upstream's outputs in ../shared/data/parity (skips without it).
#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <sstream>

#include "model/safetensors.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::run_tessera;

// Whether the tessera binary's LibTorch sees a GPU: `--device auto` then
// resolves to CUDA, which `model info`-free probing shows in its error text.
bool torch_has_no_cuda() {
  const auto r = run_tessera({"model", "forward", "--config", "x", "--weights", "x", "--part", "unet", "--inputs", "x",
                              "--out", "x", "--device", "cuda"});
  return r.output.find("sees no CUDA device") != std::string::npos;
}

const fs::path kSchemas = fs::path(TESSERA_SOURCE_DIR) / "schemas" / "ldm";

// Writes `names` of `io` (renamed to `as`) into a new inputs file.
fs::path inputs_from(const model::SafetensorsFile& io, const fs::path& out,
                     const std::vector<std::pair<std::string, std::string>>& names) {
  std::vector<model::TensorData> tensors;
  for (const auto& [name, as] : names) {
    const auto* view = io.find(name);
    if (!view) throw std::runtime_error("fixture tensor missing: " + name);
    model::TensorData t;
    t.name = as;
    t.dtype = view->dtype;
    t.shape = view->shape;
    t.bytes.assign(view->data, view->data + view->bytes);
    tensors.push_back(std::move(t));
  }
  model::write_safetensors(out.string(), tensors);
  return out;
}

double max_abs_diff(const model::TensorView& a, const model::TensorView& b) {
  EXPECT_EQ(a.shape, b.shape) << a.name;
  const auto x = a.to_float64(), y = b.to_float64();
  double worst = 0;
  for (size_t i = 0; i < x.size() && i < y.size(); ++i) worst = std::max(worst, std::abs(x[i] - y[i]));
  return worst;
}

class ModelForward : public ::testing::Test {
 protected:
  // Runs forward and compares each produced output with upstream's.
  void check(const std::string& config, const std::string& weights, const std::string& part,
             const std::vector<std::pair<std::string, std::string>>& inputs, const std::string& io_name,
             const std::vector<std::pair<std::string, std::string>>& outputs) {
    const auto parity = data_ / "parity";
    const auto io = model::SafetensorsFile::open((parity / io_name).string());
    const auto in = inputs_from(io, dir_ / "in.safetensors", inputs);
    const auto r = run_tessera({"model", "forward", "--config", (parity / config).string(), "--weights",
                                (parity / weights).string(), "--part", part, "--inputs", in.string(), "--out",
                                (dir_ / "out.safetensors").string(), "--threads", "2"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    const auto out = model::SafetensorsFile::open((dir_ / "out.safetensors").string());
    for (const auto& [ours, theirs] : outputs) {
      const auto* a = out.find(ours);
      const auto* b = io.find(theirs);
      ASSERT_TRUE(a && b) << ours << " / " << theirs;
      if (ours == "indices") {
        EXPECT_EQ(a->to_int64(), b->to_int64());
      } else {
        EXPECT_LE(max_abs_diff(*a, *b), 1e-4) << ours;
      }
    }
  }
  void SetUp() override {
    const auto data = testing::shared_data();
    if (!data) GTEST_SKIP() << "../shared/data is not present in this checkout";
    data_ = *data;
  }
  fs::path data_;
  testing::TempDir dir_;
};

TEST_F(ModelForward, VqAutoencoderMatchesUpstream) {
  check("vq_tiny.yaml", "vq_tiny.weights.index.json", "first_stage", {{"image", "image"}}, "vq_tiny.io.safetensors",
        {{"h", "h"}, {"quantized", "quantized"}, {"indices", "indices"}, {"decoded", "decoded"}});
}

TEST_F(ModelForward, KlAutoencoderMatchesUpstream) {
  check("kl_tiny.yaml", "kl_tiny.weights.index.json", "first_stage", {{"image", "image"}}, "kl_tiny.io.safetensors",
        {{"mean", "mean"}, {"logvar", "logvar"}, {"decoded", "decoded"}});
}

TEST_F(ModelForward, UNetMatchesUpstream) {
  check("unet_tiny.yaml", "unet_tiny.weights.index.json", "unet",
        {{"x", "x"}, {"timesteps", "timesteps"}, {"context", "context"}}, "unet_tiny.io.safetensors", {{"eps", "eps"}});
}

TEST_F(ModelForward, ClipTextMatchesUpstreamIncludingPathLdmMode) {
  check("clip_text_tiny.config.json", "clip_text_tiny.weights.safetensors", "cond_stage",
        {{"input_ids_77", "input_ids"}}, "clip_text_tiny.io.safetensors",
        {{"last_hidden_state", "last_hidden_77_nomask"}});
  check("clip_text_tiny.config.json", "clip_text_tiny.weights.safetensors", "cond_stage",
        {{"input_ids_154", "input_ids"}, {"attention_mask_154", "attention_mask"}}, "clip_text_tiny.io.safetensors",
        {{"last_hidden_state", "last_hidden_154_pathldm"}});
}

TEST_F(ModelForward, DeviceAndPrecisionChoicesAreCheckedUpFront) {
  const auto parity = data_ / "parity";
  const auto io = model::SafetensorsFile::open((parity / "kl_tiny.io.safetensors").string());
  const auto in = inputs_from(io, dir_ / "in.safetensors", {{"image", "image"}});
  const auto run = [&](std::vector<std::string> extra) {
    std::vector<std::string> args = {"model",     "forward",
                                     "--config",  (parity / "kl_tiny.yaml").string(),
                                     "--weights", (parity / "kl_tiny.weights.index.json").string(),
                                     "--part",    "first_stage",
                                     "--inputs",  in.string(),
                                     "--out",     (dir_ / "out.safetensors").string()};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args);
  };
  const auto cpu = run({"--device", "cpu", "--dtype", "fp32"});
  ASSERT_EQ(cpu.exit_code, 0) << cpu.output;
  EXPECT_EQ(model::SafetensorsFile::open((dir_ / "out.safetensors").string()).find("mean")->dtype, model::DType::kF32);
  for (const auto* dtype : {"bf16", "fp16"}) {
    const auto mixed = run({"--device", "cpu", "--dtype", dtype});
    EXPECT_EQ(mixed.exit_code, 1);
    EXPECT_NE(mixed.output.find("autocast run on CUDA only"), std::string::npos) << mixed.output;
  }
  if (torch_has_no_cuda()) {
    const auto refused = run({"--device", "cuda"});
    EXPECT_EQ(refused.exit_code, 1);
    EXPECT_NE(refused.output.find("sees no CUDA device"), std::string::npos) << refused.output;
  }
}

TEST(ModelCli, ParameterCountsOfTheReferenceConfigs) {
  const auto parts = [](const std::string& config) {
    const auto r = run_tessera({"model", "info", "--config", (kSchemas / config).string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::map<std::string, int64_t> counts;
    for (const auto& p : nlohmann::json::parse(r.output)) counts[p["part"]] = p["parameters"];
    return counts;
  };
  // Whole autoencoders, encoder and decoder (VQ-f4 with its 8192 x 3 codebook).
  EXPECT_EQ(parts("vq-f4.yaml").at("first_stage"), 55322782);
  EXPECT_EQ(parts("kl-f8.yaml").at("first_stage"), 83653863);  // Stable Diffusion v1's VAE
  const auto pathldm = parts("pathldm.yaml");
  EXPECT_EQ(pathldm.at("unet"), 400920579);
  EXPECT_EQ(pathldm.at("cond_stage"), 63165952);  // CLIP ViT-B/32's text tower
  EXPECT_EQ(pathldm.at("first_stage"), 55322782);
}

TEST(ModelCli, KeysAreUpstreamNamesWithShapes) {
  const auto r = run_tessera({"model", "keys", "--config", (kSchemas / "pathldm.yaml").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  for (const auto* line :
       {"model.diffusion_model.input_blocks.0.0.weight\t[192, 3, 3, 3]\n",
        "model.diffusion_model.time_embed.0.weight\t[768, 192]\n",
        "model.diffusion_model.input_blocks.4.1.transformer_blocks.0.attn2.to_k.weight\t[384, 512]\n",
        "model.diffusion_model.out.2.weight\t[3, 192, 3, 3]\n",
        "first_stage_model.quantize.embedding.weight\t[8192, 3]\n",
        "cond_stage_model.transformer.text_model.final_layer_norm.weight\t[512]\n"}) {
    EXPECT_NE(r.output.find(line), std::string::npos) << line;
  }
}

TEST(ModelCli, InitIsDeterministicAndLoadsBack) {
  testing::TempDir dir;
  const auto config = (kSchemas / "tiny-ldm.yaml").string();
  const auto init = [&](const std::string& seed, const std::string& name) {
    const auto r = run_tessera({"model", "init", "--config", config, "--seed", seed, "--out", (dir / name).string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    std::ifstream in(dir / name, std::ios::binary);
    std::stringstream bytes;
    bytes << in.rdbuf();
    return bytes.str();
  };
  const auto a = init("7", "a.safetensors"), b = init("7", "b.safetensors"), c = init("8", "c.safetensors");
  EXPECT_EQ(a, b);
  EXPECT_NE(a, c);
  // The initialised weights load strictly, and their fingerprints differ by seed.
  const auto fingerprint = [&](const std::string& name) {
    const auto r = run_tessera({"model", "info", "--config", config, "--weights", (dir / name).string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output)[0]["fingerprint"].get<std::string>();
  };
  EXPECT_EQ(fingerprint("a.safetensors"), fingerprint("b.safetensors"));
  EXPECT_NE(fingerprint("a.safetensors"), fingerprint("c.safetensors"));
  EXPECT_EQ(fingerprint("a.safetensors").size(), 32u);
}

TEST(ModelCli, MismatchedWeightsAreAClearError) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto r = run_tessera({"model", "info", "--config", (kSchemas / "tiny-vq.yaml").string(), "--weights",
                              (data / "parity/kl_tiny.weights.index.json").string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("got ["), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tessera
