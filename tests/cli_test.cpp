// The tessera binary as users run it: exit codes, messages, JSON, kill -9.
#include <gtest/gtest.h>
#include <signal.h>

#include <fstream>
#include <nlohmann/json.hpp>
#include <random>

#include "base/file_io.h"
#include "prompts/probability_bin.h"
#include "prompts/prompt_options.h"
#include "slide/tiling_limits.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::run_tessera;

class CliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    auto spec = testing::small_spec();
    a_ = testing::make_slide(dir_ / "slides", "A.tiff", spec);
    spec.seed = 2;
    b_ = testing::make_slide(dir_ / "slides", "B.tiff", spec);
  }
  nlohmann::json info(const fs::path& store) {
    const auto r = run_tessera({"info", "--store", store.string(), "--json"});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return nlohmann::json::parse(r.output);
  }
  testing::TempDir dir_;
  fs::path a_, b_;
};

TEST_F(CliTest, IngestThenInfoJsonHasTheStableFields) {
  const auto r = run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", (dir_ / "slides").string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("slide A: complete"), std::string::npos) << r.output;  // plain lines, not a bar
  EXPECT_NE(r.output.find("2 slides: 2 complete"), std::string::npos) << r.output;
  const auto j = info(dir_ / "s");
  EXPECT_EQ(j["schema_version"], 1);
  ASSERT_EQ(j["slides"].size(), 2u);
  const auto& s = j["slides"][0];
  EXPECT_EQ(s["id"], "A");
  EXPECT_EQ(s["status"], "complete");
  EXPECT_EQ(s["tiles_total"], 48);
  EXPECT_GT(s["tiles_kept"].get<int>(), 10);
  EXPECT_DOUBLE_EQ(s["mpp"].get<double>(), 0.5);
  EXPECT_EQ(s["mpp_source"], "tiff-resolution");
  EXPECT_EQ(s["error"], "");
  EXPECT_EQ(s["rejected"]["pen"], 3);
  EXPECT_EQ(j["totals"]["complete"], 2);
}

TEST_F(CliTest, ExitCodesSayWhatHappened) {
  EXPECT_EQ(run_tessera({"ingest", "--store", (dir_ / "s").string()}).exit_code, 2);  // --slides missing
  EXPECT_EQ(run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", "x", "--tile", "3"}).exit_code, 2);

  const auto missing =
      run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", (dir_ / "nope.svs").string()});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_NE(missing.output.find("nope.svs: no such file or folder"), std::string::npos) << missing.output;

  std::ofstream(dir_ / "slides/bad.svs") << "not a slide";
  const auto some_failed =
      run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", (dir_ / "slides").string()});
  EXPECT_EQ(some_failed.exit_code, 3) << some_failed.output;
  EXPECT_NE(some_failed.output.find("failed: " + (dir_ / "slides/bad.svs").string()), std::string::npos)
      << some_failed.output;
  const auto j = info(dir_ / "s");
  EXPECT_EQ(j["totals"]["complete"], 2);
  EXPECT_EQ(j["totals"]["failed"], 1);
}

// build/tessera links no LibTorch; a command that runs a model is handed to
// build/tessera-models beside it, which gives what it would give itself.
const fs::path kModelsBinary = fs::path(TESSERA_BINARY).parent_path() / "tessera-models";

TEST(Handover, TesseraLinksNoLibTorch) {
  const auto r = testing::run_binary("/usr/bin/readelf", {"--dynamic", TESSERA_BINARY});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("(NEEDED)"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libtorch"), std::string::npos) << r.output;
  EXPECT_EQ(r.output.find("libc10"), std::string::npos) << r.output;
  const auto models = testing::run_binary("/usr/bin/readelf", {"--dynamic", kModelsBinary.string()});
  EXPECT_NE(models.output.find("libtorch"), std::string::npos) << models.output;
}

TEST(Handover, AModelCommandGivesWhatTesseraModelsGives) {
  const std::vector<std::string> keys = {"model", "keys", "--config",
                                         (testing::kLdmConfigs / "tiny-ldm.yaml").string()};
  const auto handed = run_tessera(keys);
  const auto direct = testing::run_binary(kModelsBinary.string(), keys);
  ASSERT_EQ(handed.exit_code, 0) << handed.output;
  EXPECT_NE(handed.output.find("model.diffusion_model."), std::string::npos) << handed.output;
  EXPECT_EQ(handed.output, direct.output);
  // Flags, --help and usage errors are tessera-models' own.
  const auto help = run_tessera({"train", "--help"});
  EXPECT_EQ(help.exit_code, 0);
  EXPECT_NE(help.output.find("--vae-model"), std::string::npos) << help.output;
  const auto usage = run_tessera({"train", "--no-such-flag"});
  EXPECT_EQ(usage.exit_code, 2);
  EXPECT_NE(usage.output.find("--store is required"), std::string::npos) << usage.output;
  EXPECT_EQ(usage.output, testing::run_binary(kModelsBinary.string(), {"train", "--no-such-flag"}).output);
  // Ingest with a VAE runs a model: the weights are read there, before the store is made.
  testing::TempDir dir;
  const auto slide = testing::make_slide(dir.path(), "A.tiff", testing::small_spec());
  const auto weights = dir.path() / "vae.safetensors";
  std::ofstream(weights) << "not safetensors";
  const auto ingest =
      run_tessera({"ingest", "--store", (dir.path() / "store").string(), "--slides", slide.string(), "--vae-config",
                   (testing::kLdmConfigs / "tiny-kl.yaml").string(), "--vae-weights", weights.string()});
  EXPECT_EQ(ingest.exit_code, 1) << ingest.output;
  EXPECT_NE(ingest.output.find(weights.string()), std::string::npos) << ingest.output;
  EXPECT_FALSE(fs::exists(dir.path() / "store"));
}

TEST(Handover, WithoutTesseraModelsBesideItAModelCommandSaysWhatIsMissing) {
  testing::TempDir dir;
  const auto alone = dir.path() / "tessera";
  fs::copy_file(TESSERA_BINARY, alone);
  fs::permissions(alone, fs::perms::owner_all);
  const auto train = testing::run_binary(alone.string(), {"train", "--help"});
  EXPECT_EQ(train.exit_code, 1) << train.output;
  EXPECT_NE(
      train.output.find("train runs a model, which tessera leaves to " + (dir.path() / "tessera-models").string()),
      std::string::npos)
      << train.output;
  // Commands that run no model do not need it.
  const auto help = testing::run_binary(alone.string(), {"--help"});
  EXPECT_EQ(help.exit_code, 0) << help.output;
  EXPECT_NE(help.output.find("generate"), std::string::npos) << help.output;
}

nlohmann::json read_schema(const std::string& name) {
  return nlohmann::json::parse(read_file(std::string(TESSERA_SOURCE_DIR) + "/schemas/" + name));
}

// The schemas state the limits, defaults and words the binary uses.
TEST(Options, SchemasStateTheBinarysLimitsAndDefaults) {
  const auto tile = read_schema("slide-record.schema.json")["properties"]["tile_size"]["anyOf"][1];
  EXPECT_EQ(tile["minimum"], stages::kMinTileSize);
  EXPECT_EQ(tile["maximum"], stages::kMaxTileSize);

  const auto prompt = read_schema("prompt-record.schema.json")["properties"];
  EXPECT_EQ(prompt["token_budget"]["minimum"], stages::kMinTokenBudget);
  EXPECT_EQ(prompt["token_budget"]["maximum"], stages::kClipContext);
  EXPECT_EQ(prompt["token_budget"]["default"], stages::kDefaultTokenBudget);
  EXPECT_EQ(prompt["tokens"]["maximum"], stages::kClipContext);
  EXPECT_EQ(prompt["template"]["default"], stages::kDefaultTemplate);
  std::vector<std::string> bins = {""};
  bins.insert(bins.end(), stages::kProbabilityBins.begin(), stages::kProbabilityBins.end());
  EXPECT_EQ(prompt["tumor"]["enum"], bins);
  EXPECT_EQ(prompt["til"]["enum"], bins);
}

// The flags refuse values one past each limit (exit 2: a usage error).
TEST(Options, FlagsRefuseValuesPastTheLimits) {
  for (const int tile : {stages::kMinTileSize - 1, stages::kMaxTileSize + 1}) {
    const auto r = run_tessera({"ingest", "--store", "s", "--slides", "x", "--tile", std::to_string(tile)});
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find("--tile"), std::string::npos) << r.output;
  }
  for (const size_t budget : {stages::kMinTokenBudget - 1, stages::kClipContext + 1}) {
    const std::vector<std::vector<std::string>> commands = {{"ingest", "--store", "s", "--slides", "x"},
                                                            {"report", "--reports", "r.csv"}};
    for (auto args : commands) {
      args.insert(args.end(), {"--token-budget", std::to_string(budget)});
      const auto r = run_tessera(args);
      EXPECT_EQ(r.exit_code, 2) << args[0] << ": " << r.output;
      EXPECT_NE(r.output.find("--token-budget"), std::string::npos) << args[0] << ": " << r.output;
    }
  }
}

// Number flags of several commands: NaN, infinity and values outside the
// flag's range are usage errors (exit 2) naming the flag, before anything is
// made: no store, no output folder.
TEST_F(CliTest, NumberFlagsRefuseNanInfinityAndValuesOutOfRange) {
  const std::string store = (dir_ / "s").string(), out = (dir_ / "out").string();
  const std::vector<std::string> ingest = {"ingest", "--store", store, "--slides", a_.string()};
  const std::vector<std::string> generate = {"generate",  "--config",  a_.string(), "--weights",
                                             a_.string(), "--prompts", a_.string(), "--n",
                                             "4",         "--out",     out};
  const std::vector<std::string> train_vae = {"train-vae", "--store",   dir_.path().string(),
                                              "--config",  a_.string(), "--init-weights",
                                              a_.string(), "--out",     out};
  const std::vector<std::string> export_ = {"export", "--store", store, "--out", out, "--format", "webdataset"};
  const std::vector<std::string> encode = {"encode",    "--store",       dir_.path().string(), "--vae-config",
                                           a_.string(), "--vae-weights", a_.string()};
  struct Case {
    std::vector<std::string> command;
    std::vector<std::string> flags;  // the last flag given is the one at fault
  };
  const std::vector<Case> cases = {
      {generate, {"--guidance", "nan"}},
      {generate, {"--guidance", "1e30"}},
      {generate, {"--eta", "inf"}},
      {generate, {"--n", "18446744073709551615"}},
      {generate, {"--seed", "-1"}},
      {ingest, {"--mpp", "nan"}},
      {ingest, {"--min-tissue", "nan"}},
      {ingest, {"--max-pen", "-inf"}},
      {ingest, {"--jobs", "-3"}},
      {ingest, {"--tiles-in-flight", "100000000000"}},
      {ingest, {"--tile", "64", "--overlap", "64"}},
      {train_vae, {"--lr", "nan"}},
      {train_vae, {"--clip-grad", "inf"}},
      {export_, {"--seed", "-1"}},
      {export_, {"--val", "nan"}},
      {encode, {"--threads", "-1"}},
  };
  for (const auto& c : cases) {
    auto args = c.command;
    args.insert(args.end(), c.flags.begin(), c.flags.end());
    const std::string& flag = c.flags[c.flags.size() - 2];
    SCOPED_TRACE(c.command[0] + " " + flag + " " + c.flags.back());
    const auto r = run_tessera(args);
    EXPECT_EQ(r.exit_code, 2) << r.output;
    EXPECT_NE(r.output.find(flag + ": "), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(store));
    EXPECT_FALSE(fs::exists(out));
  }
}

TEST_F(CliTest, SecondProcessOnTheStoreIsRefusedAndHarmsNothing) {
  ASSERT_EQ(run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", a_.string()}).exit_code, 0);
  const auto before = info(dir_ / "s");
  {
    auto holder = store::Store::open(dir_ / "s");  // as a running ingest would
    const auto r = run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", b_.string()});
    EXPECT_EQ(r.exit_code, 1);
    EXPECT_NE(r.output.find("is in use by another process (lock " + (dir_ / "s/db/LOCK").string()), std::string::npos)
        << r.output;
    // info reads while the store is held.
    EXPECT_EQ(info(dir_ / "s")["slides"].size(), 1u);
  }
  EXPECT_EQ(info(dir_ / "s"), before);
}

TEST_F(CliTest, InterruptFinishesInFlightWorkAndTheRerunCompletes) {
  // A third, larger slide keeps the run busy after A completes.
  auto big = testing::small_spec();
  big.width = 6144, big.height = 4096, big.seed = 3;
  testing::make_slide(dir_ / "slides", "C.tiff", big);
  bool sent = false;
  const auto interrupted =
      run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", (dir_ / "slides").string(), "--jobs", "1"},
                  {}, [&](const std::string& output, int pid) {
                    if (!sent && output.find("slide B: complete") != std::string::npos) {
                      kill(pid, SIGINT);
                      sent = true;
                    }
                  });
  ASSERT_TRUE(sent) << interrupted.output;
  EXPECT_EQ(interrupted.exit_code, 130) << interrupted.output;
  EXPECT_NE(interrupted.output.find("interrupted; run the same command again"), std::string::npos);
  // C was either not started yet or stopped midway: never complete.
  const auto mid = info(dir_ / "s");
  ASSERT_GE(mid["slides"].size(), 2u);
  EXPECT_EQ(mid["slides"][0]["status"], "complete");
  EXPECT_EQ(mid["slides"][1]["status"], "complete");
  if (mid["slides"].size() == 3) {
    EXPECT_EQ(mid["slides"][2]["status"], "pending");
  }

  const auto rerun = run_tessera({"ingest", "--store", (dir_ / "s").string(), "--slides", (dir_ / "slides").string()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_NE(rerun.output.find("3 slides: 1 complete, 2 already complete"), std::string::npos) << rerun.output;
  EXPECT_EQ(info(dir_ / "s")["slides"][2]["status"], "complete");
}

TEST_F(CliTest, KillNineAtARandomTileThenRerunFinishesWithoutDuplicates) {
  // The references: uninterrupted runs, with the rerun's stricter filter too.
  const std::vector<std::string> base = {"--slides", (dir_ / "slides").string(), "--jobs", "1", "--no-qc"};
  const auto with = [&](std::vector<std::string> args, const std::vector<std::string>& more) {
    args.insert(args.end(), more.begin(), more.end());
    return args;
  };
  ASSERT_EQ(run_tessera(with({"ingest", "--store", (dir_ / "ref").string()}, base)).exit_code, 0);
  ASSERT_EQ(run_tessera(with({"ingest", "--store", (dir_ / "ref-strict").string(), "--max-background", "0.2"}, base))
                .exit_code,
            0);
  const auto ref = info(dir_ / "ref");
  const auto strict = info(dir_ / "ref-strict");
  const int kept_a = ref["slides"][0]["tiles_kept"], kept_b = ref["slides"][1]["tiles_kept"];
  ASSERT_LT(strict["slides"][0]["tiles_kept"].get<int>(), kept_a) << "the stricter filter must keep fewer tiles";

  std::random_device entropy;
  const unsigned seed = entropy();
  std::mt19937 rng(seed);
  for (int trial = 0; trial < 3; ++trial) {
    const int kill_at = std::uniform_int_distribution<int>(1, kept_a + kept_b - 1)(rng);
    SCOPED_TRACE("seed " + std::to_string(seed) + ", SIGKILL after tile " + std::to_string(kill_at));
    const fs::path store = dir_ / ("s" + std::to_string(trial));
    // 4 KiB batches: every tile is its own write. Tiles skip the write-ahead
    // log, so the killed slide's reach disk only when something flushes the
    // memtables; store_test covers the rerun removing those.
    const auto killed = run_tessera(with({"ingest", "--store", store.string(), "--write-batch-kib", "4"}, base),
                                    {"TESSERA_CRASH_AT=ingest.tile_stored:" + std::to_string(kill_at)});
    ASSERT_EQ(killed.exit_code, 128 + 9) << killed.output;
    const auto mid = info(store);
    size_t unfinished = 0;
    {
      store::StoreOptions ro;
      ro.read_only = true;
      auto reader = store::Store::open(store, ro);
      for (const auto& s : mid["slides"]) {
        EXPECT_NE(s["status"], "failed");
        if (s["status"] == "complete") {
          EXPECT_EQ(reader->count_tiles(s["id"].get<std::string>()), s["tiles_kept"].get<uint64_t>());
        } else {
          ++unfinished;
        }
      }
    }
    EXPECT_GE(unfinished, 1u) << "the kill left every slide complete; the test proves nothing";

    // The rerun, with a stricter filter: leftovers of the killed run that are
    // no longer kept would show up as extra tiles.
    const auto rerun = run_tessera(with({"ingest", "--store", store.string(), "--max-background", "0.2"}, base));
    ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
    const auto done = info(store);
    store::StoreOptions ro;
    ro.read_only = true;
    auto reader = store::Store::open(store, ro);
    for (size_t i = 0; i < 2; ++i) {
      const auto& s = done["slides"][i];
      EXPECT_EQ(s["status"], "complete");
      EXPECT_EQ(s["tiles_kept"], strict["slides"][i]["tiles_kept"]);
      EXPECT_EQ(s["rejected"], strict["slides"][i]["rejected"]);
      EXPECT_EQ(reader->count_tiles(s["id"].get<std::string>()), s["tiles_kept"].get<uint64_t>());
    }
  }
}

TEST_F(CliTest, ADamagedLogIsRefusedByEveryCommandAndRepairRecoversTheStore) {
  const fs::path store = dir_ / "s";
  const std::vector<std::string> ingest = {
      "ingest", "--store", store.string(), "--slides",          (dir_ / "slides").string(),
      "--jobs", "1",       "--no-qc",      "--write-batch-kib", "4"};
  // Killed in slide B: the log holds the records written since A's tiles were
  // flushed, A's final one and B's pending one.
  const auto killed = run_tessera(ingest, {"TESSERA_CRASH_AT=ingest.tile_stored:30"});
  ASSERT_EQ(killed.exit_code, 128 + 9) << killed.output;
  const auto log = testing::write_ahead_log(store);
  testing::flip_bytes(log, fs::file_size(log) / 2, 16);

  const std::string refused = "store " + store.string() + " has a damaged write-ahead log (" + log.string() + ")";
  for (const auto& args : {std::vector<std::string>{"info", "--store", store.string()}, ingest}) {
    const auto r = run_tessera(args);
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(refused), std::string::npos) << r.output;
    EXPECT_NE(r.output.find("`tessera repair --store " + store.string() + "`"), std::string::npos) << r.output;
  }

  const auto repaired = run_tessera({"repair", "--store", store.string(), "--json"});
  ASSERT_EQ(repaired.exit_code, 0) << repaired.output;
  const auto j = testing::json_of(repaired);
  EXPECT_EQ(j["store"], store.string());
  EXPECT_EQ(j["log_damaged"], true);
  for (const auto* count : {"slides", "complete_slides", "tiles", "latents", "embeddings", "prompts"}) {
    EXPECT_TRUE(j["after"][count].is_number_unsigned()) << count;
    // `before` is null when RocksDB cannot read the log past the damage.
    if (!j["before"].is_null()) {
      EXPECT_TRUE(j["before"][count].is_number_unsigned()) << count;
    }
  }
  EXPECT_TRUE(j["slides_rolled_back"].is_array());
  // Slide B, in flight at the kill, is not complete: the rerun redoes it.
  EXPECT_LT(j["after"]["complete_slides"].get<uint64_t>(), 2u) << repaired.output;
  EXPECT_NE(repaired.output.find("recovered to its last consistent point"), std::string::npos) << repaired.output;
  // The store opens again, holds what repair kept, and the rerun completes it.
  EXPECT_EQ(info(store)["slides"].size(), j["after"]["slides"].get<size_t>());
  const auto again = run_tessera({"repair", "--store", store.string(), "--json"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(testing::json_of(again)["log_damaged"], false);
  const auto rerun = run_tessera(ingest);
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(info(store)["totals"]["complete"], 2);
}

}  // namespace
}  // namespace tessera
