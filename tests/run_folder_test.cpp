// A training run's folder (runtime/run_folder.h): checkpoint names as the
// writer makes them are the ones the lookup finds, at any digit count; a VAE
// run resumes only from a step with both files; run.json's format tells the
// kinds apart; and the one resume policy refuses, naming what changed.

#include "runtime/run_folder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <string>

#include "base/error.h"
#include "model/safetensors.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using runtime::RunFolder;
using runtime::RunKind;

void touch(const fs::path& file) {
  fs::create_directories(file.parent_path());
  std::ofstream(file) << "x";
}

// A training state whose metadata records `settings`.
void write_state(const fs::path& file, const runtime::RunSettings& settings) {
  fs::create_directories(file.parent_path());
  model::write_safetensors(file.string(), {model::TensorData::from_int64("train.step", {}, {1})}, settings);
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const Error& e) {
    return e.what();
  }
  return "no error";
}

TEST(RunFolder, NamesCheckpointsWithEightDigitsOrMoreAndFindsTheHighestAtAnyCount) {
  testing::TempDir dir;
  const RunFolder run(dir / "run", RunKind::kLdm);
  EXPECT_EQ(run.weights(4), dir / "run" / "checkpoints" / "step-00000004.safetensors");
  EXPECT_EQ(run.training_state(4), run.weights(4));
  EXPECT_EQ(run.weights(123456789).filename(), "step-123456789.safetensors");
  EXPECT_EQ(run.sample_grid(30), dir / "run" / "samples" / "step-00000030.png");
  EXPECT_FALSE(run.newest_resumable_step());

  for (const int64_t step : {int64_t{4}, int64_t{99999999}, int64_t{100000000}, int64_t{1234567890123}}) {
    touch(run.weights(step));
    EXPECT_EQ(run.newest_resumable_step(), step);
    EXPECT_EQ(run.newest_weights(), run.weights(step));
  }
  // Neither a temporary file, nor another name, nor a signed number is a checkpoint.
  for (const char* name :
       {"step-99999999999999.safetensors.tmp", "step-x.safetensors", "step-+9999999999999.safetensors",
        "step-.safetensors", "step-9999999999999.train.safetensors", "other.safetensors"}) {
    touch(run.checkpoints() / name);
  }
  EXPECT_EQ(run.newest_resumable_step(), 1234567890123);
  // Weights named by hand with other zero padding count by their number.
  touch(run.checkpoints() / "step-0002000000000000.safetensors");
  EXPECT_EQ(run.newest_weights().filename(), "step-0002000000000000.safetensors");
  EXPECT_EQ(run.newest_resumable_step(), 1234567890123) << "a state must have the writer's name";
}

TEST(RunFolder, AVaeRunResumesFromTheNewestStepWithBothFilesAndKeepsOneState) {
  testing::TempDir dir;
  const RunFolder run(dir / "run", RunKind::kVae);
  EXPECT_EQ(run.training_state(8).filename(), "step-00000008.train.safetensors");
  EXPECT_EQ(run.weights(8).filename(), "step-00000008.safetensors");
  touch(run.weights(8));
  touch(run.training_state(8));
  touch(run.weights(12));         // killed before its state was written
  touch(run.training_state(16));  // its weights lost
  EXPECT_EQ(run.newest_resumable_step(), 8);
  EXPECT_EQ(run.newest_weights(), run.weights(12));

  touch(run.training_state(4));
  run.keep_only_training_state(8);
  EXPECT_TRUE(fs::exists(run.training_state(8)));
  EXPECT_FALSE(fs::exists(run.training_state(4)));
  EXPECT_FALSE(fs::exists(run.training_state(16)));
  EXPECT_TRUE(fs::exists(run.weights(12)));
}

TEST(RunFolder, ARunWithoutCheckpointsIsNamedWhenWeightsAreAskedFor) {
  testing::TempDir dir;
  const RunFolder run(dir / "run", RunKind::kLdm);
  fs::create_directories(run.checkpoints());
  const std::string message = error_of([&] { run.newest_weights(); });
  EXPECT_NE(message.find(run.checkpoints().string() + " holds no step-NNNNNNNN.safetensors"), std::string::npos)
      << message;
}

TEST(RunFolder, AFreshRunNeedsAnEmptyFolderAndAResumedOneAFolder) {
  testing::TempDir dir;
  const RunFolder run(dir / "run", RunKind::kLdm);
  EXPECT_NO_THROW(run.check_usable(false));
  touch(run.root() / "notes.txt");
  EXPECT_NE(error_of([&] { run.check_usable(false); }).find("is not empty: pass --resume"), std::string::npos);
  EXPECT_NO_THROW(run.check_usable(true));
  touch(dir / "file");
  const RunFolder file(dir / "file", RunKind::kVae);
  EXPECT_NE(error_of([&] { file.check_usable(true); }).find("is not a directory"), std::string::npos);
}

TEST(RunFolder, RunJsonCarriesItsKindsFormatAndNamesTheFieldAtFault) {
  testing::TempDir dir;
  const RunFolder ldm(dir / "run", RunKind::kLdm);
  EXPECT_NE(error_of([&] { ldm.read_manifest(); }).find("a training run?"), std::string::npos);
  fs::create_directories(ldm.root());
  ldm.write_manifest({{"config", "config.yaml"},
                      {"vae", {{"weights", "/abs/vae.safetensors"}, {"config", ""}}},
                      {"seed", 7},
                      {"offset", -1}});
  const auto text = nlohmann::json::parse(std::ifstream(ldm.manifest()));
  EXPECT_EQ(text["format"], "tessera-run/1");

  const auto manifest = ldm.read_manifest();
  EXPECT_EQ(manifest.path("config"), ldm.root() / "config.yaml");
  EXPECT_EQ(manifest.path("vae.weights"), "/abs/vae.safetensors");
  EXPECT_EQ(manifest.unsigned_integer("seed"), 7u);
  EXPECT_TRUE(manifest.has("vae.weights"));
  EXPECT_FALSE(manifest.has("text.weights"));
  const std::string file = ldm.manifest().string();
  EXPECT_EQ(error_of([&] { manifest.string("text.weights"); }), file + ": field \"text.weights\" is missing");
  EXPECT_EQ(error_of([&] { manifest.string("vae.config"); }),
            file + ": field \"vae.config\" must be a non-empty string");
  EXPECT_EQ(error_of([&] { manifest.unsigned_integer("offset"); }),
            file + ": field \"offset\" must be a non-negative integer");

  // The same folder read as a VAE run is another kind's.
  const RunFolder vae(ldm.root(), RunKind::kVae);
  EXPECT_EQ(error_of([&] { vae.read_manifest(); }),
            file + ": field \"format\" is 'tessera-run/1', expected 'tessera-train-vae/1'");
  vae.write_manifest({{"steps", 3}});
  EXPECT_EQ(vae.read_manifest().unsigned_integer("steps"), 3u);
  EXPECT_NE(error_of([&] { ldm.read_manifest(); }).find("expected 'tessera-run/1'"), std::string::npos);

  std::ofstream(ldm.manifest()) << "{ not json";
  EXPECT_NE(error_of([&] { ldm.read_manifest(); }).find(file + ": not valid JSON"), std::string::npos);
}

TEST(RunFolder, BothKindsRefuseToResumeWithAChangedOrUnrecordedSetting) {
  testing::TempDir dir;
  for (const RunKind kind : {RunKind::kLdm, RunKind::kVae}) {
    const RunFolder run(dir / (kind == RunKind::kLdm ? "ldm" : "vae"), kind);
    write_state(run.training_state(4), {{"seed", "4"}, {"tiles", "12"}, {"store", "/elsewhere"}});
    const std::string state = run.training_state(4).string();
    // Settings the run does not compare (the store's path) may differ.
    EXPECT_NO_THROW(run.check_resume_settings(4, {{"seed", "4"}, {"tiles", "12"}}));
    EXPECT_EQ(error_of([&] {
                run.check_resume_settings(4, {{"seed", "5"}, {"tiles", "12"}});
              }),
              "--resume: " + state +
                  " was trained with seed 4, this run has 5; resuming exactly needs the same settings (start a new "
                  "--out to change them)");
    EXPECT_NE(error_of([&] {
                run.check_resume_settings(4, {{"seed", "4"}, {"tiles", "13"}});
              }).find("tiles 12, this run has 13"),
              std::string::npos);
    EXPECT_NE(error_of([&] {
                run.check_resume_settings(4, {{"crop", "32"}});
              }).find("crop (absent), this run has 32"),
              std::string::npos);
  }
}

}  // namespace
}  // namespace tessera
