// A training run's folder (runtime/run_folder.h): checkpoint names as the
// writer makes them are the ones the lookup finds, at any digit count; a VAE
// run resumes only from a step with both files; run.json's format tells the
// kinds apart; and the one resume policy refuses, naming what changed.

#include "runtime/run_folder.h"

#include <gtest/gtest.h>

#include <fstream>
#include <functional>
#include <stdexcept>
#include <string>

#include "base/error.h"
#include "base/file_io.h"
#include "model/safetensors.h"
#include "runtime/ldm_training.h"
#include "runtime/loss_log.h"
#include "runtime/vae_training.h"
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

  // An LDM run's training states are its weights: none is deleted.
  const RunFolder ldm(dir / "ldm", RunKind::kLdm);
  touch(ldm.weights(1));
  touch(ldm.weights(2));
  EXPECT_THROW(ldm.keep_only_training_state(2), std::logic_error);
  EXPECT_TRUE(fs::exists(ldm.weights(1)));
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

TEST(LossLog, WritesEachKindsRowsAndAResumeKeepsTheWholeRowsUpToItsStep) {
  testing::TempDir dir;
  const RunFolder ldm(dir / "ldm", RunKind::kLdm);
  fs::create_directories(ldm.root());
  const runtime::LossLog ldm_log(ldm);
  ldm_log.keep_rows_through(0);
  runtime::LdmStepLoss step;
  step.epoch = 2;
  step.loss = 0.123456789123;
  step.learning_rate = 1e-4;
  step.grad_norm = 3.5;
  for (int64_t i = 1; i <= 3; ++i) ldm_log.append(i, step);
  const std::string header = "step,epoch,loss,learning_rate,grad_norm\n";
  const std::string rows = "1,2,0.123456789,0.0001,3.5\n2,2,0.123456789,0.0001,3.5\n";
  EXPECT_EQ(tessera::read_file(ldm.loss_csv()), header + rows + "3,2,0.123456789,0.0001,3.5\n");
  // A kill cut the last row short; the run resumes from step 2's checkpoint.
  std::ofstream(ldm.loss_csv(), std::ios::app) << "1,2";
  ldm_log.keep_rows_through(2);
  EXPECT_EQ(tessera::read_file(ldm.loss_csv()), header + rows);

  const RunFolder vae(dir / "vae", RunKind::kVae);
  fs::create_directories(vae.root());
  const runtime::LossLog vae_log(vae);
  vae_log.keep_rows_through(0);
  runtime::VaeStepLoss loss;
  loss.loss = 0.1;
  loss.rec = 0.25;
  loss.regulariser = 1e-3;
  loss.learning_rate = 4.5e-6;
  vae_log.append(1, loss);
  EXPECT_EQ(tessera::read_file(vae.loss_csv()),
            "step,loss,rec,codebook_or_kl,perceptual,lr\n1,0.1,0.25,0.001,0,4.5e-06\n");

  // One kind's log is not the other's.
  fs::copy_file(ldm.loss_csv(), vae.loss_csv(), fs::copy_options::overwrite_existing);
  EXPECT_NE(error_of([&] { vae_log.keep_rows_through(1); }).find(vae.loss_csv().string() + ": not this run's loss.csv"),
            std::string::npos);
}

}  // namespace
}  // namespace tessera
