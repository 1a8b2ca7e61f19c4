// Cohorts beyond one machine: --shard on ingest and encode, `tessera merge`,
// and the scheduler examples run as plain bash with the scheduler's
// variables set by hand. Through the binary, as a job array runs it.

#include <gtest/gtest.h>
#include <sys/wait.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>

#include "base/error.h"
#include "pipeline/shard.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

// Every entry of every column family, with the fields that record when and
// how long a run took removed: those differ between any two runs. They are
// the slide records' `finished_at` and `seconds`, and the model records'
// `registered_at`.
using StoreDump = std::map<std::string, std::vector<std::pair<std::string, std::string>>>;

StoreDump dump(const fs::path& dir) {
  store::StoreOptions ro;
  ro.read_only = true;
  const auto s = store::Store::open(dir, ro);
  StoreDump out;
  for (const char* cf : store::kColumnFamilies) {
    auto& entries = out[cf];
    s->for_each_entry(cf, [&](std::string_view key, std::string_view value) {
      std::string v(value);
      if (std::string_view(cf) == store::kSlidesCf) {
        auto json = nlohmann::json::parse(v);
        json.erase("finished_at");
        json.erase("seconds");
        v = json.dump();
      } else if (std::string_view(cf) == store::kMetaCf && key.substr(0, 7) == "models/") {
        auto json = nlohmann::json::parse(v);
        json.erase("registered_at");
        v = json.dump();
      }
      entries.emplace_back(std::string(key), std::move(v));
    });
  }
  return out;
}

// The first difference between two dumps, or "" when they are equal.
std::string first_difference(const StoreDump& a, const StoreDump& b) {
  for (const auto& [cf, entries] : a) {
    const auto& other = b.at(cf);
    if (entries.size() != other.size()) {
      return cf + ": " + std::to_string(entries.size()) + " entries against " + std::to_string(other.size());
    }
    for (size_t i = 0; i < entries.size(); ++i) {
      if (entries[i].first != other[i].first) return cf + ": key " + std::to_string(i) + " differs";
      if (entries[i].second != other[i].second) return cf + ": the value of key " + std::to_string(i) + " differs";
    }
  }
  return "";
}

uint64_t entries_of(const StoreDump& d, const char* cf) { return d.at(cf).size(); }

// Eight slides of four cases (DX1 and DX2 of each), with reports: slides of
// one case fall in different shards, so shards share prompts.
class ScaleOut : public ::testing::Test {
 protected:
  void SetUp() override {
    slides_ = dir_ / "slides";
    auto spec = testing::small_spec();
    for (int c = 1; c <= 4; ++c) {
      for (int s = 1; s <= 2; ++s) {
        spec.seed = uint64_t(c * 10 + s);
        testing::make_slide(slides_, "TCGA-ZZ-000" + std::to_string(c) + "-01Z-00-DX" + std::to_string(s) + ".tiff",
                            spec);
      }
    }
    reports_ = dir_ / "reports.csv";
    std::ofstream(reports_) << "case_submitter_id,text\n"
                               "TCGA-ZZ-0001,\"Invasive ductal carcinoma, grade 3. pT2 N0.\"\n"
                               "TCGA-ZZ-0002,\"Infiltrating lobular carcinoma, grade 2. pT1c N1a.\"\n"
                               "TCGA-ZZ-0003,\"Invasive ductal carcinoma, grade 1. pT1b N0.\"\n"
                               "TCGA-ZZ-0004,\"Invasive carcinoma of no special type, grade 3. pT3 N2.\"\n";
    vocab_ = testing::write_learned_vocabulary(dir_ / "vocab.txt.gz");
    vq_ = init_vq(1);
  }

  std::string init_vq(int seed) {
    const auto out = dir_ / ("tiny-vq." + std::to_string(seed) + ".safetensors");
    const auto r = run_tessera({"model", "init", "--config", (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--seed",
                                std::to_string(seed), "--out", out.string()});
    EXPECT_EQ(r.exit_code, 0) << r.output;
    return out.string();
  }

  std::vector<std::string> ingest_args(const fs::path& store) const {
    return {"ingest",
            "--store",
            store.string(),
            "--slides",
            slides_.string(),
            "--tile",
            "64",
            "--mpp",
            "2",
            "--progress",
            "quiet",
            "--no-qc",
            "--reports",
            reports_.string(),
            "--clip-vocab",
            vocab_.string(),
            "--json"};
  }

  testing::CommandResult ingest(const fs::path& store, const std::vector<std::string>& extra = {}) const {
    auto args = ingest_args(store);
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args);
  }

  testing::CommandResult encode(const fs::path& store, const std::string& weights,
                                const std::vector<std::string>& extra = {}) const {
    std::vector<std::string> args = {
        "encode",        "--store", store.string(), "--vae-config", (testing::kLdmConfigs / "tiny-vq.yaml").string(),
        "--vae-weights", weights,   "--progress",   "quiet",        "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args);
  }

  testing::CommandResult merge(const fs::path& into, const std::vector<fs::path>& shards,
                               const std::vector<std::string>& env = {}) const {
    std::vector<std::string> args = {"merge", "--into", into.string(), "--progress", "quiet", "--json"};
    for (const auto& s : shards) args.push_back(s.string());
    return run_tessera(args, env);
  }

  // The cohort ingested and encoded in one store.
  fs::path single_store() {
    const auto store = dir_ / "single";
    const auto r = ingest(store);
    EXPECT_EQ(r.exit_code, 0) << r.output;
    EXPECT_EQ(json_of(r)["complete"], 8);
    const auto e = encode(store, vq_);
    EXPECT_EQ(e.exit_code, 0) << e.output;
    return store;
  }

  // The cohort ingested and encoded as `count` shards, one store each.
  std::vector<fs::path> shard_stores(int count) {
    std::vector<fs::path> shards;
    size_t slides = 0;
    for (int i = 0; i < count; ++i) {
      const auto store = dir_ / ("shard-" + std::to_string(i));
      const auto r = ingest(store, {"--shard", std::to_string(i) + "/" + std::to_string(count)});
      EXPECT_EQ(r.exit_code, 0) << r.output;
      const auto summary = json_of(r);
      EXPECT_EQ(summary["shard"], std::to_string(i) + "/" + std::to_string(count));
      EXPECT_EQ(summary["slides"].get<size_t>() + summary["slides_in_other_shards"].get<size_t>(), 8u);
      slides += summary["slides"].get<size_t>();
      const auto e = encode(store, vq_, {"--shard", std::to_string(i) + "/" + std::to_string(count)});
      EXPECT_EQ(e.exit_code, 0) << e.output;
      EXPECT_EQ(json_of(e)["slides_in_other_shards"], 0);
      shards.push_back(store);
    }
    EXPECT_EQ(slides, 8u);
    return shards;
  }

  testing::TempDir dir_;
  fs::path slides_;
  fs::path reports_;
  fs::path vocab_;
  std::string vq_;
};

TEST_F(ScaleOut, FourShardsMergedEqualTheCohortDoneInOneStore) {
  const auto expected = dump(single_store());
  ASSERT_GT(entries_of(expected, store::kTilesCf), 100u);
  ASSERT_EQ(entries_of(expected, store::kLatentIndexCf), entries_of(expected, store::kTilesCf));
  ASSERT_GE(entries_of(expected, store::kPromptsCf), 8u);  // records and their sources

  const auto shards = shard_stores(4);
  const auto merged = dir_ / "merged";
  const auto r = merge(merged, shards);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = json_of(r);
  EXPECT_EQ(summary["slides_added"], 8);
  EXPECT_EQ(summary["tiles_added"].get<uint64_t>(), entries_of(expected, store::kTilesCf));
  EXPECT_EQ(summary["latents_added"].get<uint64_t>(), entries_of(expected, store::kLatentIndexCf));
  EXPECT_EQ(summary["models_added"].size(), 1u);
  EXPECT_TRUE(summary["vocabulary_added"].get<bool>());
  EXPECT_TRUE(summary["hard_linked"].get<bool>());
  // Into an empty store, every file of tiles, latents and prompts lands on
  // the bottom level: no compaction. The meta file's keys surround the
  // store's schema_version, so it goes above that one.
  std::set<std::string> families;
  for (const auto& f : summary["files"]) {
    if (f["column_family"] != "meta") {
      EXPECT_EQ(f["level"], 6) << f.dump();
    }
    families.insert(f["column_family"].get<std::string>());
  }
  EXPECT_EQ(families,
            (std::set<std::string>{"latent_index", "latents", "meta", "prompts", "slides", "tile_pixels", "tiles"}));
  EXPECT_EQ(first_difference(dump(merged), expected), "");
  EXPECT_FALSE(fs::exists(merged / "merge-staging"));

  // A rerun finds everything present and writes nothing.
  const auto again = merge(merged, shards);
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(json_of(again)["slides_present"], 8);
  EXPECT_EQ(json_of(again)["files"].size(), 0u);
  EXPECT_EQ(first_difference(dump(merged), expected), "");

  // The merged store reads as a store: info sees every slide and latent.
  const auto info = run_tessera({"info", "--store", merged.string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  EXPECT_EQ(json_of(info)["slides"].size(), 8u);
}

TEST_F(ScaleOut, ACohortGrowsByMergingIntoAStoreThatHasSlides) {
  const auto expected = dump(single_store());
  const auto shards = shard_stores(4);
  const auto merged = dir_ / "merged";
  ASSERT_EQ(merge(merged, {shards[0], shards[1]}).exit_code, 0);
  const auto r = merge(merged, {shards[1], shards[2], shards[3]});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto summary = json_of(r);
  EXPECT_EQ(summary["slides_present"].get<uint64_t>() + summary["slides_added"].get<uint64_t>(),
            8 - dump(shards[0]).at(store::kSlidesCf).size());
  EXPECT_EQ(first_difference(dump(merged), expected), "");
}

TEST_F(ScaleOut, AReEncodeForANewVaeRunsAsShardsBesideTheOldLatents) {
  const auto cohort = single_store();
  const auto vq2 = init_vq(2);
  // What an in-place re-encode makes, for comparison.
  const auto reference = dir_ / "reference";
  fs::copy(cohort, reference, fs::copy_options::recursive);
  ASSERT_EQ(encode(reference, vq2).exit_code, 0);

  std::vector<fs::path> parts;
  uint64_t encoded = 0;
  for (int i = 0; i < 2; ++i) {
    parts.push_back(dir_ / ("latents-" + std::to_string(i)));
    const auto r = encode(cohort, vq2, {"--shard", std::to_string(i) + "/2", "--out", parts.back().string()});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    encoded += json_of(r)["tiles_encoded"].get<uint64_t>();
  }
  const auto before = dump(cohort);
  EXPECT_EQ(encoded, entries_of(before, store::kTilesCf));
  // The shared store was only read.
  EXPECT_EQ(entries_of(before, store::kLatentIndexCf), entries_of(before, store::kTilesCf));

  // Latents without their slides are refused, naming the slide.
  const auto orphan = merge(dir_ / "empty", {parts[0]});
  EXPECT_EQ(orphan.exit_code, 1);
  EXPECT_NE(orphan.output.find("but neither"), std::string::npos) << orphan.output;
  EXPECT_NE(orphan.output.find("TCGA-ZZ-000"), std::string::npos) << orphan.output;

  const auto r = merge(cohort, parts);
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(json_of(r)["latents_added"].get<uint64_t>(), encoded);
  EXPECT_EQ(json_of(r)["slides_added"], 0);
  EXPECT_EQ(first_difference(dump(cohort), dump(reference)), "");

  // Encoding a shard again after the merge finds nothing to do.
  const auto rerun = encode(cohort, vq2, {"--shard", "0/2", "--out", parts[0].string()});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(json_of(rerun)["tiles_encoded"], 0);
}

TEST_F(ScaleOut, ShardsThatDisagreeAreRefusedBeforeAnythingIsWritten) {
  const auto a = dir_ / "a";
  const auto b = dir_ / "b";
  ASSERT_EQ(ingest(a).exit_code, 0);
  ASSERT_EQ(ingest(b, {"--jpeg-quality", "70"}).exit_code, 0);
  const auto target = dir_ / "target";
  const auto r = merge(target, {a, b});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("slide TCGA-ZZ-0001-01Z-00-DX1 is in shard " + a.string() + " and in shard " + b.string()),
            std::string::npos)
      << r.output;
  EXPECT_EQ(entries_of(dump(target), store::kSlidesCf), 0u);

  // A byte-identical copy of a shard is the same slides: each is merged once.
  const auto copy = dir_ / "a-copy";
  fs::copy(a, copy, fs::copy_options::recursive);
  const auto twice = merge(target, {a, copy});
  ASSERT_EQ(twice.exit_code, 0) << twice.output;
  EXPECT_EQ(json_of(twice)["slides_added"], 8);
  EXPECT_EQ(first_difference(dump(target), dump(a)), "");

  // A target whose slide differs from the shard's is left as it is.
  const auto refused = merge(target, {b});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("is in " + target.string() + " already, and shard " + b.string()), std::string::npos)
      << refused.output;
  EXPECT_EQ(first_difference(dump(target), dump(a)), "");
}

TEST_F(ScaleOut, RecordsThatDisagreeAndPendingSlidesAreRefused) {
  const auto write = [&](const fs::path& dir, const std::function<void(store::Store&)>& edit) {
    auto s = store::Store::open(dir);
    edit(*s);
  };
  store::ModelRecord model;
  model.id = "0123456789abcdef0123456789abcdef";
  model.role = "first_stage";
  model.architecture = "vq";
  model.output_shape = {3, 16, 16};
  model.stored_dtype = "fp16";
  write(dir_ / "m1", [&](store::Store& s) { s.put_model(model); });
  model.weights_path = "/elsewhere/vq.safetensors";  // where a task found it: not part of the identity
  model.registered_at = "2026-12-03T00:00:00Z";
  write(dir_ / "m2", [&](store::Store& s) { s.put_model(model); });
  model.output_shape = {4, 16, 16};
  write(dir_ / "m3", [&](store::Store& s) { s.put_model(model); });
  EXPECT_EQ(merge(dir_ / "t1", {dir_ / "m1", dir_ / "m2"}).exit_code, 0);
  const auto models = merge(dir_ / "t2", {dir_ / "m1", dir_ / "m3"});
  EXPECT_EQ(models.exit_code, 1);
  EXPECT_NE(models.output.find("model 0123456789abcdef0123456789abcdef has one record in"), std::string::npos)
      << models.output;

  // One prompt id with two texts.
  const auto prompt_store = [&](const fs::path& dir, const std::string& text) {
    write(dir, [&](store::Store& s) {
      store::SlideRecord slide;
      slide.id = "S-" + dir.filename().string();
      slide.status = store::SlideStatus::kComplete;
      auto writer = s.slide_writer(slide.id);
      store::PromptRecord prompt;
      prompt.id = "00000000000000000000000000000001";
      prompt.text = text;
      writer.add_prompt(prompt);
      writer.commit(slide);
    });
  };
  prompt_store(dir_ / "p1", "invasive ductal carcinoma");
  prompt_store(dir_ / "p2", "invasive lobular carcinoma");
  const auto prompts = merge(dir_ / "t3", {dir_ / "p1", dir_ / "p2"});
  EXPECT_EQ(prompts.exit_code, 1);
  EXPECT_NE(prompts.output.find("prompt 00000000000000000000000000000001 (its text or tokens) is in shard"),
            std::string::npos)
      << prompts.output;

  // A shard whose ingest has not finished.
  write(dir_ / "pending", [&](store::Store& s) {
    store::SlideRecord slide;
    slide.id = "S-pending";
    s.put_slide(slide);
  });
  const auto pending = merge(dir_ / "t4", {dir_ / "pending"});
  EXPECT_EQ(pending.exit_code, 1);
  EXPECT_NE(pending.output.find("slide S-pending of shard " + (dir_ / "pending").string() + " is pending"),
            std::string::npos)
      << pending.output;
}

TEST_F(ScaleOut, AMergeKilledAtAnyPointLeavesTheTargetUnchangedOrWhole) {
  const auto expected = dump(single_store());
  const auto shards = shard_stores(4);
  const auto target = dir_ / "target";
  ASSERT_EQ(merge(target, {shards[0]}).exit_code, 0);
  const auto before = dump(target);

  // Killed with its files built, before they are ingested: nothing changed.
  const auto killed = merge(target, {shards[1], shards[2], shards[3]}, {"TESSERA_CRASH_AT=merge.files_built:1"});
  ASSERT_EQ(killed.exit_code, 128 + 9) << killed.output;
  EXPECT_TRUE(fs::exists(target / "merge-staging"));
  EXPECT_EQ(first_difference(dump(target), before), "");

  // Killed right after the ingestion: all of it is there, and a rerun is a no-op.
  const auto late = merge(target, {shards[1], shards[2], shards[3]}, {"TESSERA_CRASH_AT=merge.files_ingested:1"});
  ASSERT_EQ(late.exit_code, 128 + 9) << late.output;
  EXPECT_EQ(first_difference(dump(target), expected), "");
  const auto rerun = merge(target, {shards[1], shards[2], shards[3]});
  ASSERT_EQ(rerun.exit_code, 0) << rerun.output;
  EXPECT_EQ(json_of(rerun)["files"].size(), 0u);
  EXPECT_FALSE(fs::exists(target / "merge-staging"));
  EXPECT_EQ(first_difference(dump(target), expected), "");
}

// --shard auto, as each scheduler sets its variables.
using Env = std::map<std::string, std::string>;
pipeline::Shard shard_in(const std::string& spec, const Env& env) {
  return pipeline::parse_shard(spec, [&](const char* name) -> std::optional<std::string> {
    const auto it = env.find(name);
    if (it == env.end()) return std::nullopt;
    return it->second;
  });
}

std::string shard_error(const std::string& spec, const Env& env) {
  try {
    shard_in(spec, env);
  } catch (const Error& e) {
    return e.what();
  }
  return "";
}

TEST(ShardSpec, ExplicitAndSchedulerGivenShards) {
  EXPECT_EQ(shard_in("2/4", {}).text(), "2/4");
  // sbatch --array=1-8: tasks 1..8 are shards 0..7.
  EXPECT_EQ(shard_in("auto", {{"SLURM_ARRAY_TASK_ID", "3"},
                              {"SLURM_ARRAY_TASK_MIN", "1"},
                              {"SLURM_ARRAY_TASK_MAX", "8"},
                              {"SLURM_ARRAY_TASK_COUNT", "8"}})
                .text(),
            "2/8");
  // --array=0-14:2
  EXPECT_EQ(shard_in("auto", {{"SLURM_ARRAY_TASK_ID", "6"},
                              {"SLURM_ARRAY_TASK_MIN", "0"},
                              {"SLURM_ARRAY_TASK_MAX", "14"},
                              {"SLURM_ARRAY_TASK_STEP", "2"}})
                .text(),
            "3/8");
  EXPECT_EQ(shard_in("auto", {{"SLURM_ARRAY_TASK_ID", "5"}, {"SLURM_ARRAY_TASK_COUNT", "16"}}).text(), "5/16");
  EXPECT_EQ(shard_in("auto/12", {{"JOB_COMPLETION_INDEX", "11"}}).text(), "11/12");

  EXPECT_NE(shard_error("4/4", {}).find("shard index 4 is not below the count 4"), std::string::npos);
  EXPECT_NE(shard_error("1/0", {}).find("the shard count must be within 1.."), std::string::npos);
  EXPECT_NE(shard_error("a/b", {}).find("expected I/N, auto or auto/N"), std::string::npos);
  EXPECT_NE(shard_error("auto", {}).find("SLURM_ARRAY_TASK_ID (a SLURM job array) or JOB_COMPLETION_INDEX"),
            std::string::npos);
  EXPECT_NE(shard_error("auto", {{"JOB_COMPLETION_INDEX", "2"}}).find("give the Job's completions as --shard auto/N"),
            std::string::npos);
  EXPECT_NE(shard_error("auto", {{"SLURM_ARRAY_TASK_ID", "x1"}}).find("SLURM_ARRAY_TASK_ID is 'x1'"),
            std::string::npos);
  // --array=1,3,7: not a range the index can be read from.
  EXPECT_NE(shard_error("auto", {{"SLURM_ARRAY_TASK_ID", "3"},
                                 {"SLURM_ARRAY_TASK_MIN", "1"},
                                 {"SLURM_ARRAY_TASK_MAX", "7"},
                                 {"SLURM_ARRAY_TASK_COUNT", "3"}})
                .find("is not an evenly stepped range"),
            std::string::npos);
  EXPECT_NE(shard_error("auto/4", {{"SLURM_ARRAY_TASK_ID", "0"}, {"SLURM_ARRAY_TASK_COUNT", "8"}})
                .find("the SLURM array has 8 tasks"),
            std::string::npos);
}

TEST(ShardSpec, ASlidesShardDependsOnItsIdAndTheCountAlone) {
  // Pinned: a cohort split by one tessera release is split alike by the next.
  EXPECT_EQ(pipeline::shard_of("TCGA-A1-A0SB-01Z-00-DX1", 16), 1u);
  EXPECT_EQ(pipeline::shard_of("TCGA-BH-A0BZ-01Z-00-DX1", 16), 7u);
  // Balanced: 4000 ids over 4 shards, each within 10% of its share.
  std::vector<int> counts(4);
  for (int i = 0; i < 4000; ++i) ++counts[pipeline::shard_of("TCGA-ZZ-" + std::to_string(i) + "-01Z-00-DX1", 4)];
  for (const int c : counts) EXPECT_NEAR(c, 1000, 100);
}

// The examples under examples/slurm and examples/kubernetes, run as plain
// bash with the variables SLURM or Kubernetes would set.
TEST_F(ScaleOut, TheSchedulerExamplesRunAsPlainBash) {
  const fs::path examples = fs::path(TESSERA_SOURCE_DIR) / "examples";
  const auto shards = dir_ / "shards";
  const std::string common = "TESSERA=" + std::string(TESSERA_BINARY) + " SLIDES=" + slides_.string() +
                             " SHARDS=" + shards.string() + " STORE=" + (dir_ / "cohort").string() +
                             " INGEST_FLAGS='--mpp 2 --tile 64 --no-qc --progress lines'" +
                             " VAE_CONFIG=" + (testing::kLdmConfigs / "tiny-vq.yaml").string() + " VAE_WEIGHTS=" + vq_;
  const auto run = [&](const std::string& command) {
    const int status = std::system(("cd " + dir_.path().string() + " && " + common + " " + command + " >> " +
                                    (dir_ / "examples.log").string() + " 2>&1")
                                       .c_str());
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
  };
  const std::string array = " SLURM_ARRAY_TASK_MIN=0 SLURM_ARRAY_TASK_MAX=2 SLURM_ARRAY_TASK_COUNT=3";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(run("SLURM_ARRAY_TASK_ID=" + std::to_string(i) + array + " bash " +
                  (examples / "slurm" / "ingest.sbatch").string()),
              0);
    ASSERT_EQ(run("SLURM_ARRAY_TASK_ID=" + std::to_string(i) + array + " bash " +
                  (examples / "slurm" / "encode.sbatch").string()),
              0);
  }
  ASSERT_EQ(run("bash " + (examples / "slurm" / "merge.sbatch").string()), 0);
  const auto merged = dump(dir_ / "cohort");
  EXPECT_EQ(entries_of(merged, store::kSlidesCf), 8u);
  EXPECT_GT(entries_of(merged, store::kTilesCf), 100u);
  EXPECT_EQ(entries_of(merged, store::kLatentIndexCf), entries_of(merged, store::kTilesCf));

  // A Kubernetes indexed Job's task: the same split by JOB_COMPLETION_INDEX.
  const auto k8s = dir_ / "k8s";
  for (int i = 0; i < 3; ++i) {
    ASSERT_EQ(run("SHARDS=" + k8s.string() + " SHARD_COUNT=3 JOB_COMPLETION_INDEX=" + std::to_string(i) + " bash " +
                  (examples / "kubernetes" / "ingest-task.sh").string()),
              0);
    // The same slides and tiles as the SLURM task of that index (whose store has latents too).
    const auto by_k8s = dump(k8s / ("ingest-" + std::to_string(i)));
    const auto by_slurm = dump(shards / ("ingest-" + std::to_string(i)));
    EXPECT_EQ(by_k8s.at(store::kTilesCf), by_slurm.at(store::kTilesCf));
    EXPECT_EQ(by_k8s.at(store::kTilePixelsCf), by_slurm.at(store::kTilePixelsCf));
  }
}

}  // namespace
}  // namespace tessera
