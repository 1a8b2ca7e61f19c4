// Encoding tiles and prompts into the store, and re-encoding incrementally:
// through the CLI (as users run it) with tiny random-weight VAEs, checked
// against the models run directly in memory.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <limits>
#include <nlohmann/json.hpp>
#include <set>

#include "imaging/jpeg_codec.h"
#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/safetensors.h"
#include "runtime/memory_budget.h"
#include "runtime/memory_estimate.h"
#include "runtime/model_loading.h"
#include "runtime/tensor_records.h"
#include "runtime/vocabulary.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

std::unique_ptr<store::Store> open_read_only(const fs::path& dir) {
  store::StoreOptions ro;
  ro.read_only = true;
  return store::Store::open(dir, ro);
}

// A copy of `weights` at `out` whose tensor `name` (with or without a
// sub-model prefix) is all NaN, as weights that diverged in training are.
void write_with_nan_tensor(const std::string& weights, const std::string& name, const fs::path& out) {
  const auto set = model::WeightsSet::open(weights);
  std::vector<model::TensorData> tensors;
  size_t poisoned = 0;
  for (const auto& tensor : set.names()) {
    const auto& view = set.at(tensor);
    std::vector<float> values = view.to_float32();
    const bool target =
        tensor == name || (tensor.size() > name.size() &&
                           tensor.compare(tensor.size() - name.size() - 1, std::string::npos, "." + name) == 0);
    if (target) {
      std::fill(values.begin(), values.end(), std::numeric_limits<float>::quiet_NaN());
      ++poisoned;
    }
    tensors.push_back(model::TensorData::from_floats(tensor, view.shape, values));
  }
  ASSERT_EQ(poisoned, 1u) << name << " in " << weights;
  model::write_safetensors(out.string(), tensors, set.metadata());
}

// Small stores: 64 px tiles at 2 µm/px of small_spec(), a few dozen tiles.
class EncodeTest : public ::testing::Test {
 protected:
  void SetUp() override {
    slides_ = dir_ / "slides";
    testing::make_slide(slides_, std::string(testing::kTestSlideId) + ".tiff", testing::small_spec());
    vq_ = init_weights("tiny-vq.yaml", 1);
  }

  std::string init_weights(const std::string& config, int seed) {
    const auto out = dir_ / (config + "." + std::to_string(seed) + ".safetensors");
    const auto r = run_tessera({"model", "init", "--config", (testing::kLdmConfigs / config).string(), "--seed",
                                std::to_string(seed), "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out.string();
  }

  testing::CommandResult ingest(const fs::path& store, const std::vector<std::string>& extra = {}) {
    std::vector<std::string> args = {"ingest", "--store", store.string(), "--slides", slides_.string(), "--tile", "64",
                                     "--mpp",  "2",       "--progress",   "quiet",    "--no-qc"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args);
  }

  // A two-layer CLIP text tower, so that a test is quick; the same code runs
  // CLIP ViT-B/32 and L/14. Its config and weights.
  std::pair<fs::path, fs::path> tiny_clip() {
    const auto config = dir_ / "tiny-clip.json";
    std::ofstream(config) << R"({"model_type": "clip_text_model", "hidden_size": 32, "intermediate_size": 64,
    "num_hidden_layers": 2, "num_attention_heads": 2, "max_position_embeddings": 77, "vocab_size": 49408})";
    const auto weights = dir_ / "tiny-clip.safetensors";
    const auto r =
        run_tessera({"model", "init", "--config", config.string(), "--seed", "5", "--out", weights.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return {config, weights};
  }

  testing::CommandResult encode(const fs::path& store, const std::string& config, const std::string& weights,
                                const std::vector<std::string>& extra = {}, const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {
        "encode",        "--store", store.string(), "--vae-config", (testing::kLdmConfigs / config).string(),
        "--vae-weights", weights,   "--progress",   "quiet",        "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args, env);
  }

  testing::TempDir dir_;
  fs::path slides_;
  std::string vq_;
};

TEST_F(EncodeTest, VqLatentsHaveTheirShapeDtypeAndDecodeAsInMemory) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  const auto r = encode(store_dir, "tiny-vq.yaml", vq_);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = json_of(r);

  auto store = open_read_only(store_dir);
  const uint64_t tiles = store->count_tiles(testing::kTestSlideId);
  ASSERT_GT(tiles, 10u);
  EXPECT_EQ(summary["tiles_encoded"].get<uint64_t>(), tiles);
  const std::string id = summary["model_id"];
  EXPECT_EQ(store->count_latents(id), tiles);
  const auto model = *store->model(id);
  EXPECT_EQ(model.role, "first_stage");
  EXPECT_EQ(model.architecture, "vq");
  EXPECT_EQ(model.output_shape, (std::vector<uint32_t>{3, 32, 32}));

  // The stored latent is the pre-quantisation h of the stored pixels, in
  // fp16; decoding it gives the image that encoding and decoding in memory
  // gives, within fp16 rounding.
  auto vae = runtime::load_autoencoder((testing::kLdmConfigs / "tiny-vq.yaml").string(), vq_);
  torch::NoGradGuard no_grad;
  int checked = 0;
  store->for_each_tile(testing::kTestSlideId, [&](const store::TileKey& key, const store::TileRecord&) {
    if (checked == 3) return;
    ++checked;
    const auto latent = *store->latent(id, testing::kTestSlideId, key.row, key.col);
    EXPECT_EQ(latent.kind, store::TensorKind::kVqLatent);
    EXPECT_EQ(latent.dtype, store::TensorDType::kF16);
    EXPECT_EQ(latent.shape, (std::vector<uint32_t>{3, 32, 32}));
    EXPECT_FLOAT_EQ(latent.scale_factor, 1.0f);

    const auto rgb = stages::decode_jpeg(*store->tile_pixels(testing::kTestSlideId, key.row, key.col));
    auto x = torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {1, 64, 64, 3}, torch::kUInt8)
                 .permute({0, 3, 1, 2})
                 .to(torch::kFloat32)
                 .div(127.5)
                 .sub(1.0);
    const auto h = vae.module->encode_moments(x);
    const auto stored = runtime::to_float_tensor(latent).unsqueeze(0);
    // fp16 keeps 11 significant bits: relative error at most 2^-11.
    EXPECT_LE((stored - h).abs().max().item<float>(), h.abs().max().item<float>() * 1e-3f + 1e-6f);
    const auto from_store = vae.module->decode(stored);
    const auto in_memory = vae.module->decode(h);
    EXPECT_LT((from_store - in_memory).abs().max().item<float>(), 2e-2f);
    EXPECT_LT((from_store - in_memory).abs().mean().item<float>(), 1e-3f);
  });
  EXPECT_EQ(checked, 3);
}

TEST_F(EncodeTest, KlLatentsHoldThePosteriorMeanAndLogVariance) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  const auto kl = init_weights("tiny-kl.yaml", 3);
  const auto r = encode(store_dir, "tiny-kl.yaml", kl, {"--stored-dtype", "fp32"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const std::string id = json_of(r)["model_id"];
  auto store = open_read_only(store_dir);
  auto vae = runtime::load_autoencoder((testing::kLdmConfigs / "tiny-kl.yaml").string(), kl);
  torch::NoGradGuard no_grad;
  bool checked = false;
  store->for_each_latent(id, testing::kTestSlideId, [&](const store::TileKey& key, const store::TensorRecord& latent) {
    if (checked) return;
    checked = true;
    EXPECT_EQ(latent.kind, store::TensorKind::kKlMoments);
    EXPECT_EQ(latent.dtype, store::TensorDType::kF32);
    EXPECT_EQ(latent.shape, (std::vector<uint32_t>{8, 32, 32}));  // mean and logvar of 4 channels
    const auto rgb = stages::decode_jpeg(*store->tile_pixels(testing::kTestSlideId, key.row, key.col));
    auto x = torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {1, 64, 64, 3}, torch::kUInt8)
                 .permute({0, 3, 1, 2})
                 .to(torch::kFloat32)
                 .div(127.5)
                 .sub(1.0);
    const auto posterior = vae.module->encode_posterior(x);
    const auto stored = runtime::to_float_tensor(latent);
    EXPECT_LT((stored.narrow(0, 0, 4) - posterior.mean[0]).abs().max().item<float>(), 1e-4f);
    EXPECT_LT((stored.narrow(0, 4, 4).clamp(-30, 20) - posterior.logvar[0]).abs().max().item<float>(), 1e-4f);
  });
  EXPECT_TRUE(checked);
}

TEST_F(EncodeTest, ReEncodingIsIncrementalPerModelAndGcFreesOldModels) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  auto first = encode(store_dir, "tiny-vq.yaml", vq_);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const std::string old_id = json_of(first)["model_id"];
  const uint64_t tiles = json_of(first)["tiles_encoded"];

  // The same model again: nothing to do, and it says so.
  const auto again = encode(store_dir, "tiny-vq.yaml", vq_);
  ASSERT_EQ(again.exit_code, 0);
  EXPECT_EQ(json_of(again)["tiles_encoded"].get<uint64_t>(), 0u);
  EXPECT_EQ(json_of(again)["tiles_present"].get<uint64_t>(), tiles);
  EXPECT_NE(again.output.find("0 tiles encoded"), std::string::npos) << again.output;

  // A fine-tuned VAE (other weights) is a new model: every tile, old kept.
  const auto vq2 = init_weights("tiny-vq.yaml", 2);
  const auto second = encode(store_dir, "tiny-vq.yaml", vq2);
  ASSERT_EQ(second.exit_code, 0);
  const std::string new_id = json_of(second)["model_id"];
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(json_of(second)["tiles_encoded"].get<uint64_t>(), tiles);

  // A newly ingested slide: only its tiles.
  auto spec = testing::small_spec();
  spec.seed = 99;
  testing::make_slide(slides_, "TCGA-AA-0002-01Z-00-DX1.tiff", spec);
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  uint64_t new_tiles = 0;
  {
    auto store = open_read_only(store_dir);
    new_tiles = store->count_tiles("TCGA-AA-0002-01Z-00-DX1");
    EXPECT_EQ(store->count_tiles(testing::kTestSlideId), tiles);  // skipped as current
  }
  ASSERT_GT(new_tiles, 0u);
  const auto third = encode(store_dir, "tiny-vq.yaml", vq2);
  EXPECT_EQ(json_of(third)["tiles_encoded"].get<uint64_t>(), new_tiles);
  EXPECT_EQ(json_of(third)["tiles_present"].get<uint64_t>(), tiles);

  // info shows the latent count per model.
  const auto info = json_of(run_tessera({"info", "--store", store_dir.string(), "--json"}));
  std::map<std::string, uint64_t> counts;
  for (const auto& m : info["models"]) counts[m["id"]] = m["latents"];
  EXPECT_EQ(counts[old_id], tiles);
  EXPECT_EQ(counts[new_id], tiles + new_tiles);

  // gc keeps the new model and removes the old one's keys.
  const auto gc = run_tessera({"gc", "--store", store_dir.string(), "--keep", new_id, "--json"});
  ASSERT_EQ(gc.exit_code, 0) << gc.output;
  EXPECT_EQ(json_of(gc)["latents_removed"].get<uint64_t>(), tiles);
  auto store = open_read_only(store_dir);
  EXPECT_EQ(store->count_latents(old_id), 0u);
  EXPECT_FALSE(store->model(old_id));
  EXPECT_EQ(store->count_latents(new_id), tiles + new_tiles);
  store->for_each_tile(testing::kTestSlideId, [&](const store::TileKey& key, const store::TileRecord&) {
    EXPECT_FALSE(store->latent(old_id, testing::kTestSlideId, key.row, key.col));
  });
  EXPECT_EQ(run_tessera({"gc", "--store", store_dir.string(), "--keep", old_id}).exit_code, 1);
}

TEST_F(EncodeTest, ReIngestingASlideDropsItsLatentsOfEveryModel) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  const auto r = encode(store_dir, "tiny-vq.yaml", vq_);
  const std::string id = json_of(r)["model_id"];
  // Tiles redone with another filter: latents of the old tiles must not survive.
  ASSERT_EQ(ingest(store_dir, {"--force", "--min-tissue", "0.9"}).exit_code, 0);
  {
    auto store = open_read_only(store_dir);
    EXPECT_EQ(store->count_latents(id), 0u);
  }
  const auto again = encode(store_dir, "tiny-vq.yaml", vq_);
  auto store = open_read_only(store_dir);
  EXPECT_EQ(json_of(again)["tiles_encoded"].get<uint64_t>(), store->count_tiles(testing::kTestSlideId));
  EXPECT_EQ(store->count_latents(id), store->count_tiles(testing::kTestSlideId));
}

TEST_F(EncodeTest, AKilledEncodeResumesWithoutDuplicates) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  const auto killed =
      encode(store_dir, "tiny-vq.yaml", vq_, {"--batch", "4"}, {"TESSERA_CRASH_AT=encode.batch_stored:3"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.output;
  uint64_t tiles = 0;
  std::string id;
  {
    auto store = open_read_only(store_dir);
    tiles = store->count_tiles(testing::kTestSlideId);
    ASSERT_EQ(store->models().size(), 1u);
    id = store->models()[0].id;
    // Exactly the committed batches survive the kill.
    EXPECT_EQ(store->count_latents(id), 12u);
  }
  const auto resumed = encode(store_dir, "tiny-vq.yaml", vq_, {"--batch", "4"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["tiles_encoded"].get<uint64_t>(), tiles - 12);
  auto store = open_read_only(store_dir);
  EXPECT_EQ(store->count_latents(id), tiles);
  std::set<std::pair<uint32_t, uint32_t>> cells;
  store->for_each_latent(id, testing::kTestSlideId, [&](const store::TileKey& k, const store::TensorRecord&) {
    EXPECT_TRUE(cells.emplace(k.row, k.col).second);
  });
  EXPECT_EQ(cells.size(), tiles);
}

TEST_F(EncodeTest, EncodingWhileIngestingEqualsEncodingAfterwards) {
  const auto streaming = dir_ / "streaming";
  const auto r =
      ingest(streaming, {"--vae-config", (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--vae-weights", vq_});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto separate = dir_ / "separate";
  ASSERT_EQ(ingest(separate).exit_code, 0);
  const auto e = encode(separate, "tiny-vq.yaml", vq_);
  const std::string id = json_of(e)["model_id"];

  auto a = open_read_only(streaming);
  auto b = open_read_only(separate);
  ASSERT_EQ(a->count_latents(id), b->count_latents(id));
  ASSERT_GT(a->count_latents(id), 0u);
  size_t compared = 0;
  a->for_each_latent(id, testing::kTestSlideId, [&](const store::TileKey& key, const store::TensorRecord& latent) {
    const auto other = b->latent(id, testing::kTestSlideId, key.row, key.col);
    ASSERT_TRUE(other);
    const auto diff = (runtime::to_float_tensor(latent) - runtime::to_float_tensor(*other)).abs().max().item<float>();
    EXPECT_LE(diff, 2e-3f);
    ++compared;
  });
  EXPECT_EQ(compared, a->count_latents(id));
  // The top-up pass of a second ingest with the same VAE finds nothing.
  const auto rerun =
      ingest(streaming, {"--vae-config", (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--vae-weights", vq_});
  EXPECT_NE(rerun.output.find("0 tiles encoded"), std::string::npos) << rerun.output;
}

TEST_F(EncodeTest, BadWeightsAreRefusedBeforeAnythingIsWritten) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  // Truncated: the file ends inside the tensor data.
  const auto truncated = dir_ / "truncated.safetensors";
  fs::copy_file(vq_, truncated);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  const auto t = encode(store_dir, "tiny-vq.yaml", truncated.string());
  EXPECT_EQ(t.exit_code, 1);
  EXPECT_NE(t.output.find("truncated.safetensors"), std::string::npos) << t.output;
  // A KL config with VQ weights: the tensors do not match.
  const auto m = encode(store_dir, "tiny-kl.yaml", vq_);
  EXPECT_EQ(m.exit_code, 1);
  EXPECT_NE(m.output.find("missing"), std::string::npos) << m.output;
  // Also in ingest, before the store is touched.
  const auto fresh = dir_ / "fresh";
  const auto i = ingest(
      fresh, {"--vae-config", (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--vae-weights", truncated.string()});
  EXPECT_EQ(i.exit_code, 1);
  EXPECT_FALSE(fs::exists(fresh));

  auto store = open_read_only(store_dir);
  EXPECT_TRUE(store->models().empty());
}

TEST_F(EncodeTest, ABatchTooLargeForTheMemoryIsLoweredOrRefusedWithTheNumbers) {
  const auto config = runtime::load_autoencoder((testing::kLdmConfigs / "tiny-vq.yaml").string(), vq_).config;
  const uint64_t two = runtime::encode_peak_bytes(config, 64, 2), sixteen = runtime::encode_peak_bytes(config, 64, 16);
  const std::string budget = std::string(runtime::kMemoryBudgetVariable) + "=";
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  // Room for two tiles: --batch 16 is lowered to 2, with the numbers, and every tile is encoded.
  const auto lowered = encode(store_dir, "tiny-vq.yaml", vq_, {"--batch", "16"}, {budget + std::to_string(two)});
  ASSERT_EQ(lowered.exit_code, 0) << lowered.output;
  EXPECT_NE(lowered.output.find("a batch of 16 needs about " + runtime::format_bytes(sixteen) +
                                " of memory at its peak, " + runtime::format_bytes(two) + " is available (" +
                                runtime::kMemoryBudgetVariable + "); batches lowered to 2"),
            std::string::npos)
      << lowered.output;
  const auto summary = json_of(lowered);
  EXPECT_EQ(summary["tiles_encoded"], summary["tiles"]);

  // Room for less than one tile: refused with the numbers before anything is written.
  const auto fresh = dir_ / "fresh";
  ASSERT_EQ(ingest(fresh).exit_code, 0);
  const auto refused = encode(fresh, "tiny-vq.yaml", vq_, {"--batch", "16"}, {budget + "1000"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find(
                "a batch of one needs about " + runtime::format_bytes(runtime::encode_peak_bytes(config, 64, 1)) +
                " of memory at its peak, but 1000 bytes is available (" + runtime::kMemoryBudgetVariable + ")"),
            std::string::npos)
      << refused.output;
  EXPECT_TRUE(open_read_only(fresh)->models().empty());
}

TEST_F(EncodeTest, NonFiniteLatentsFailTheirBatchNamingTheModel) {
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  // The last layer before the stored latent: every latent is NaN.
  const auto nan_weights = dir_ / "nan-encoder.safetensors";
  write_with_nan_tensor(vq_, "quant_conv.bias", nan_weights);
  const auto r = encode(store_dir, "tiny-vq.yaml", nan_weights.string());
  EXPECT_EQ(r.exit_code, 3) << r.output;  // the run finished, its slide failed
  const auto summary = json_of(r);
  const std::string id = summary["model_id"];
  EXPECT_EQ(summary["tiles_encoded"].get<uint64_t>(), 0u);
  ASSERT_EQ(summary["failures"].size(), 1u) << r.output;
  const std::string error = summary["failures"][0]["error"];
  EXPECT_NE(error.find("first-stage model " + id), std::string::npos) << error;
  EXPECT_NE(error.find(nan_weights.string()), std::string::npos) << error;
  EXPECT_NE(error.find("non-finite values (NaN or infinite"), std::string::npos) << error;

  auto store = open_read_only(store_dir);
  EXPECT_EQ(store->count_latents(id), 0u);
  EXPECT_TRUE(store->tiles_without_latents(id, testing::kTestSlideId).size() > 0);
}

TEST_F(EncodeTest, NonFiniteTextEmbeddingsFailNamingTheModel) {
  const auto [config, weights] = tiny_clip();
  const auto nan_weights = dir_ / "nan-clip.safetensors";
  write_with_nan_tensor(weights.string(), "final_layer_norm.bias", nan_weights);
  const auto store_dir = dir_ / "store";
  ASSERT_EQ(ingest(store_dir).exit_code, 0);
  const auto r = run_tessera({"encode-text", "--store", store_dir.string(), "--text-config", config.string(),
                              "--text-weights", nan_weights.string(), "--progress", "quiet"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find(nan_weights.string()), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("non-finite values (NaN or infinite"), std::string::npos) << r.output;
  auto store = open_read_only(store_dir);
  const auto models = store->models();
  ASSERT_EQ(models.size(), 1u);
  EXPECT_NE(r.output.find("text encoder " + models[0].id), std::string::npos) << r.output;
  EXPECT_TRUE(store->embedded_prompt_ids(models[0].id).empty());
}

TEST_F(EncodeTest, TextEmbeddingsAreComputedOncePerPromptPlusTheEmptyPrompt) {
  const auto [config, weights] = tiny_clip();
  const auto store_dir = dir_ / "store";
  // A vocabulary learned here: the prompt path needs no download.
  const auto vocab = testing::write_learned_vocabulary(dir_ / "vocab.txt.gz");
  const auto vocabulary = runtime::load_vocabulary(vocab.string()).record;
  std::ofstream(dir_ / "reports.csv") << "case_submitter_id,text\nTCGA-AA-0001,\"Invasive ductal carcinoma, grade 2. "
                                         "ER positive. Tumor size 2.1 cm.\"\n";
  ASSERT_EQ(ingest(store_dir, {"--reports", (dir_ / "reports.csv").string(), "--clip-vocab", vocab.string()}).exit_code,
            0);
  const std::vector<std::string> args = {"encode-text",   "--store",        store_dir.string(), "--text-config",
                                         config.string(), "--text-weights", weights.string(),   "--progress",
                                         "quiet",         "--json"};
  const auto r = run_tessera(args);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = json_of(r);
  auto prompts = open_read_only(store_dir)->prompts();
  EXPECT_EQ(summary["prompts"].get<uint64_t>(), prompts.size() + 1);
  EXPECT_EQ(summary["encoded"].get<uint64_t>(), prompts.size() + 1);
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_EQ(prompts[0].text, "invasive ductal carcinoma, grade 2, ER+, pT2, 2.1 cm");
  EXPECT_EQ(prompts[0].vocabulary, vocabulary.fingerprint);
  EXPECT_EQ(prompts[0].token_ids.front(), vocabulary.start_token);
  EXPECT_EQ(prompts[0].token_ids.back(), vocabulary.end_token);
  const auto again = run_tessera(args);
  EXPECT_EQ(json_of(again)["encoded"].get<uint64_t>(), 0u);

  // Each embedding is the text tower's output for the ids padded with the
  // vocabulary's end token to 77, as FrozenCLIPEmbedder computes it; the
  // empty prompt is the vocabulary's start and end tokens.
  auto store = open_read_only(store_dir);
  const std::string id = summary["model_id"];
  ASSERT_TRUE(store->model(id));
  EXPECT_EQ(store->model(id)->vocabulary, vocabulary.fingerprint);
  ASSERT_TRUE(store->vocabulary());
  EXPECT_EQ(store->vocabulary()->fingerprint, vocabulary.fingerprint);
  EXPECT_FALSE(store->vocabulary()->is_clip);
  auto clip = runtime::load_text_encoder(config.string(), weights.string());
  torch::NoGradGuard no_grad;
  std::vector<std::pair<std::string, std::vector<int32_t>>> cases = {
      {summary["empty_prompt_id"], {vocabulary.start_token, vocabulary.end_token}}};
  for (const auto& p : prompts) cases.emplace_back(p.id, p.token_ids);
  for (const auto& [prompt_id, ids] : cases) {
    const auto stored = store->embedding(id, prompt_id);
    ASSERT_TRUE(stored) << prompt_id;
    EXPECT_EQ(stored->kind, store::TensorKind::kTextHidden);
    EXPECT_EQ(stored->shape, (std::vector<uint32_t>{77, 32}));
    auto input = torch::full({1, 77}, int64_t(vocabulary.end_token), torch::kInt64);
    for (size_t j = 0; j < ids.size(); ++j) input[0][int64_t(j)] = int64_t(ids[j]);
    const auto expected = clip.module->forward(input)[0];
    const auto diff = (runtime::to_float_tensor(*stored) - expected).abs().max().item<float>();
    EXPECT_LE(diff, expected.abs().max().item<float>() * 1e-3f);
  }
}

}  // namespace
}  // namespace tessera
