// tessera train on a tiny store: the loss falls, a resumed run repeats an
// uninterrupted one exactly, two Gloo processes equal one, and the
// classifier-free-guidance dropout has the configured frequency.

#include <gtest/gtest.h>

#include <cmath>
#include <fstream>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>
#include <thread>

#include "base/file_io.h"
#include "base/folder_lock.h"
#include "imaging/image_file.h"
#include "model/distributed.h"
#include "model/safetensors.h"
#include "runtime/training_samples.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

// A denoiser for 3x32x32 latents conditioned on a 32-wide text tower.
constexpr const char* kTinyLdm = R"(model:
  base_learning_rate: 1.0e-3
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.0015
    linear_end: 0.0195
    timesteps: 1000
    image_size: 32
    channels: 3
    conditioning_key: crossattn
    use_ema: true
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 32
        in_channels: 3
        out_channels: 3
        model_channels: 32
        attention_resolutions: [2]
        num_res_blocks: 1
        channel_mult: [1, 2]
        num_heads: 1
        use_spatial_transformer: true
        transformer_depth: 1
        context_dim: 32
training:
  batch_size: 4
  checkpoint_every: 4
  sample_every: 30
  sample_steps: 4
  ema_decay: 0.99
  gradient_clip_val: 1.0
)";

std::vector<std::string> loss_rows(const fs::path& csv) {
  std::ifstream in(csv);
  std::vector<std::string> rows;
  for (std::string line; std::getline(in, line);) rows.push_back(line);
  return rows;
}

std::vector<double> losses(const fs::path& csv) {
  std::vector<double> out;
  const auto rows = loss_rows(csv);
  for (size_t i = 1; i < rows.size(); ++i) {
    std::istringstream fields(rows[i]);
    std::string step, epoch, loss;
    std::getline(fields, step, ',');
    std::getline(fields, epoch, ',');
    std::getline(fields, loss, ',');
    out.push_back(std::stod(loss));
  }
  return out;
}

// One store for the whole suite: a slide's tiles encoded by a tiny VQ and
// its (empty) prompt by a tiny CLIP text tower.
class TrainTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto& d = *dir_;
    testing::make_slide(d / "slides", "TCGA-AA-0001-01Z-00-DX1.tiff", testing::small_spec());
    ASSERT_EQ(run_tessera({"ingest", "--store", (d / "store").string(), "--slides", (d / "slides").string(), "--tile",
                           "64", "--mpp", "2", "--progress", "quiet", "--no-qc"})
                  .exit_code,
              0);
    const auto vq = (d / "vq.safetensors").string();
    ASSERT_EQ(run_tessera({"model", "init", "--config", (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--seed", "1",
                           "--out", vq})
                  .exit_code,
              0);
    const auto encode = run_tessera({"encode", "--store", (d / "store").string(), "--vae-config",
                                     (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--vae-weights", vq,
                                     "--progress", "quiet", "--json"});
    ASSERT_EQ(encode.exit_code, 0) << encode.output;
    *vae_id_ = json_of(encode)["model_id"];
    std::ofstream(d / "clip.json") << R"({"model_type": "clip_text_model", "hidden_size": 32,
      "intermediate_size": 64, "num_hidden_layers": 1, "num_attention_heads": 2, "vocab_size": 49408})";
    const auto clip = (d / "clip.safetensors").string();
    ASSERT_EQ(
        run_tessera({"model", "init", "--config", (d / "clip.json").string(), "--seed", "2", "--out", clip}).exit_code,
        0);
    const auto text =
        run_tessera({"encode-text", "--store", (d / "store").string(), "--text-config", (d / "clip.json").string(),
                     "--text-weights", clip, "--progress", "quiet", "--json"});
    ASSERT_EQ(text.exit_code, 0) << text.output;
    *text_id_ = json_of(text)["model_id"];
    std::ofstream(d / "ldm.yaml") << kTinyLdm;
  }
  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  std::vector<std::string> train_args(const fs::path& out, int steps, const std::vector<std::string>& extra = {}) {
    const auto& d = *dir_;
    std::vector<std::string> args = {"train",
                                     "--store",
                                     (d / "store").string(),
                                     "--config",
                                     (d / "ldm.yaml").string(),
                                     "--vae-model",
                                     *vae_id_,
                                     "--text-model",
                                     *text_id_,
                                     "--out",
                                     out.string(),
                                     "--steps",
                                     std::to_string(steps),
                                     "--threads",
                                     "1",
                                     "--progress",
                                     "quiet",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return args;
  }

  static testing::TempDir* dir_;
  static inline std::string* vae_id_ = new std::string;
  static inline std::string* text_id_ = new std::string;
  testing::TempDir runs_;
};
testing::TempDir* TrainTest::dir_ = nullptr;

TEST_F(TrainTest, LossFallsAndTheRunHoldsItsOutputs) {
  const auto run = runs_ / "run";
  const auto r = run_tessera(train_args(run, 60));
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto l = losses(run / "loss.csv");
  ASSERT_EQ(l.size(), 60u);
  double first = 0, last = 0;
  for (size_t i = 0; i < 10; ++i) first += l[i] / 10, last += l[l.size() - 10 + i] / 10;
  EXPECT_LT(last, 0.7 * first) << "first window " << first << ", last window " << last;

  const auto manifest = nlohmann::json::parse(std::ifstream(run / "run.json"));
  EXPECT_EQ(manifest["format"], "tessera-run/1");
  EXPECT_EQ(manifest["vae_model_id"], *vae_id_);
  EXPECT_EQ(manifest["text_model_id"], *text_id_);
  EXPECT_EQ(manifest["global_batch"], 4);
  EXPECT_TRUE(fs::exists(run / "config.yaml"));
  EXPECT_GT(fs::file_size(run / "loss.png"), 1000u);
  // Checkpoints every 4 steps, the EMA weights in upstream LDM names.
  const auto checkpoint = model::SafetensorsFile::open((run / "checkpoints" / "step-00000060.safetensors").string());
  EXPECT_TRUE(checkpoint.find("model.diffusion_model.time_embed.0.weight"));
  EXPECT_TRUE(checkpoint.find("train.model.diffusion_model.time_embed.0.weight"));
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000004.safetensors"));
  EXPECT_EQ(json_of(r)["steps"], 60);
  // Sample grids: 8 images of 64 px (32x32 latents, a VQ-f2) on 4 columns with 2 px gaps.
  const auto grid = stages::read_image((run / "samples" / "step-00000060.png").string());
  EXPECT_EQ(grid.width, 4 * 64 + 3 * 2);
  EXPECT_EQ(grid.height, 2 * 64 + 2);
  EXPECT_TRUE(fs::exists(run / "samples" / "step-00000030.png"));
}

TEST_F(TrainTest, AResumedRunRepeatsAnUninterruptedOneExactly) {
  const auto straight = runs_ / "straight";
  ASSERT_EQ(run_tessera(train_args(straight, 8)).exit_code, 0);
  const auto split = runs_ / "split";
  ASSERT_EQ(run_tessera(train_args(split, 4)).exit_code, 0);
  // A fresh --out that is not empty is refused; --resume continues.
  EXPECT_EQ(run_tessera(train_args(split, 8)).exit_code, 1);
  const auto resumed = run_tessera(train_args(split, 8, {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["first_step"], 4);
  // Every column of every step: loss, learning rate, gradient norm.
  EXPECT_EQ(loss_rows(split / "loss.csv"), loss_rows(straight / "loss.csv"));
  const auto a = model::SafetensorsFile::open((straight / "checkpoints" / "step-00000008.safetensors").string());
  const auto b = model::SafetensorsFile::open((split / "checkpoints" / "step-00000008.safetensors").string());
  ASSERT_EQ(a.tensors().size(), b.tensors().size());
  for (size_t i = 0; i < a.tensors().size(); ++i) {
    const auto& x = a.tensors()[i];
    const auto& y = b.tensors()[i];
    ASSERT_EQ(x.name, y.name);
    ASSERT_EQ(x.bytes, y.bytes);
    EXPECT_EQ(std::memcmp(x.data, y.data, x.bytes), 0) << x.name;
  }
}

// Flips every bit of 8 bytes at `offset` of `file`; flipping twice restores them.
void flip_bytes(const fs::path& file, std::streamoff offset) {
  std::fstream f(file, std::ios::in | std::ios::out | std::ios::binary);
  char bytes[8];
  f.seekg(offset);
  f.read(bytes, sizeof bytes);
  for (char& byte : bytes) byte = char(~byte);
  f.seekp(offset);
  f.write(bytes, sizeof bytes);
  ASSERT_TRUE(f.good()) << file;
}

TEST_F(TrainTest, ResumingFromADamagedCheckpointFailsNamingIt) {
  const auto run = runs_ / "damaged";
  ASSERT_EQ(run_tessera(train_args(run, 4)).exit_code, 0);
  const auto checkpoint = run / "checkpoints" / "step-00000004.safetensors";
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000004.safetensors.xxh128"));
  // Inside the tensor data, well past the header: the file still parses.
  const auto offset = std::streamoff(fs::file_size(checkpoint) * 2 / 3);
  flip_bytes(checkpoint, offset);
  const auto damaged = run_tessera(train_args(run, 8, {"--resume"}));
  EXPECT_EQ(damaged.exit_code, 1) << damaged.output;
  EXPECT_NE(damaged.output.find(checkpoint.string() + ": checksum mismatch"), std::string::npos) << damaged.output;
  EXPECT_EQ(loss_rows(run / "loss.csv").size(), 1u + 4u);  // nothing trained on top of it
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-00000008.safetensors"));
  // generate refuses the damaged file as well.
  const auto sampled =
      run_tessera({"generate", "--run", run.string(), "--checkpoint", checkpoint.string(), "--from-store",
                   (*dir_ / "store").string(), "--n", "1", "--steps", "2", "--device", "cpu", "--threads", "1", "--out",
                   (runs_ / "images").string(), "--progress", "quiet"});
  EXPECT_EQ(sampled.exit_code, 1) << sampled.output;
  EXPECT_NE(sampled.output.find(checkpoint.string() + ": checksum mismatch"), std::string::npos) << sampled.output;

  // Intact again, it resumes.
  flip_bytes(checkpoint, offset);
  const auto resumed = run_tessera(train_args(run, 8, {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["first_step"], 4);
  // A checkpoint without a checksum (an older tessera's) resumes with a warning naming it.
  const auto older = run / "checkpoints" / "step-00000008.safetensors";
  ASSERT_TRUE(fs::remove(run / "checkpoints" / "step-00000008.safetensors.xxh128"));
  const auto unchecked = run_tessera(train_args(run, 12, {"--resume"}));
  ASSERT_EQ(unchecked.exit_code, 0) << unchecked.output;
  EXPECT_NE(unchecked.output.find(older.string() + " has no checksum"), std::string::npos) << unchecked.output;
}

TEST_F(TrainTest, TwoGlooProcessesEqualOneWithTheSameGlobalBatch) {
  const std::string unavailable = model::gloo_unavailable_reason();
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  const auto single = runs_ / "single";
  ASSERT_EQ(run_tessera(train_args(single, 3, {"--batch", "4"})).exit_code, 0);

  const auto parallel = runs_ / "parallel";
  const int port = 29500 + int(::getpid() % 20000);
  testing::CommandResult ranks[2];
  std::thread workers[2];
  for (int rank = 0; rank < 2; ++rank) {
    workers[rank] = std::thread([&, rank] {
      ranks[rank] = run_tessera(train_args(parallel, 3, {"--batch", "2"}),
                                {"RANK=" + std::to_string(rank), "LOCAL_RANK=" + std::to_string(rank), "WORLD_SIZE=2",
                                 "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + std::to_string(port)});
    });
  }
  for (auto& w : workers) w.join();
  ASSERT_EQ(ranks[0].exit_code, 0) << ranks[0].output;
  ASSERT_EQ(ranks[1].exit_code, 0) << ranks[1].output;

  const auto manifest = nlohmann::json::parse(std::ifstream(parallel / "run.json"));
  EXPECT_EQ(manifest["world_size"], 2);
  EXPECT_EQ(manifest["global_batch"], 4);
  // Adam divides by the gradients' magnitude, so weights whose gradients are
  // near zero move by a rounding-sized amount either way; the bound is a tenth
  // of one step's movement (lr 1e-3). Half the batch alone (what a rank that
  // skipped the all-reduce would train on) moves the weights by far more.
  const auto max_difference = [](const fs::path& x_path, const fs::path& y_path) {
    const auto a = model::SafetensorsFile::open(x_path.string());
    const auto b = model::SafetensorsFile::open(y_path.string());
    double worst = 0;
    for (const auto& x : a.tensors()) {
      if (x.name.rfind("model.diffusion_model.", 0) != 0) continue;
      const auto* y = b.find(x.name);
      EXPECT_TRUE(y) << x.name;
      if (!y) continue;
      const auto xs = x.to_float32();
      const auto ys = y->to_float32();
      for (size_t i = 0; i < xs.size(); ++i) worst = std::max(worst, double(std::fabs(xs[i] - ys[i])));
    }
    return worst;
  };
  const fs::path last = fs::path("checkpoints") / "step-00000003.safetensors";
  EXPECT_LT(max_difference(single / last, parallel / last), 1e-4);
  const auto half = runs_ / "half";
  ASSERT_EQ(run_tessera(train_args(half, 3, {"--batch", "2"})).exit_code, 0);
  EXPECT_GT(max_difference(single / last, half / last), 1e-3);
  // The losses agree too: each process saw its half of the same global batch.
  const auto la = losses(single / "loss.csv");
  const auto lb = losses(parallel / "loss.csv");
  ASSERT_EQ(la.size(), lb.size());
  for (size_t i = 0; i < la.size(); ++i) EXPECT_NEAR(la[i], lb[i], 1e-4 * la[i]);
}

// examples/slurm/train-task.sh, as srun starts it on each task, run as plain
// bash with SLURM's variables set by hand: two ranks rendezvous over c10d and
// train one run with the global batch of both.
TEST_F(TrainTest, TheSlurmTrainExampleRunsItsRanksAsOneRun) {
  const std::string unavailable = model::gloo_unavailable_reason();
  if (!unavailable.empty()) GTEST_SKIP() << unavailable;
  const auto run = runs_ / "slurm";
  auto args = train_args(run, 2, {"--batch", "2"});
  args.erase(args.begin(), args.begin() + 3);  // train --store STORE: the script gives them
  std::string flags;
  for (const auto& a : args) flags += " '" + a + "'";
  const int port = 29500 + int((::getpid() + 7919) % 20000);
  const fs::path task = fs::path(TESSERA_SOURCE_DIR) / "examples" / "slurm" / "train-task.sh";
  int status[2] = {-1, -1};
  std::thread ranks[2];
  for (int rank = 0; rank < 2; ++rank) {
    ranks[rank] = std::thread([&, rank] {
      const std::string command = "TESSERA=" + std::string(TESSERA_BINARY) + " STORE=" + (*dir_ / "store").string() +
                                  " SLURM_PROCID=" + std::to_string(rank) +
                                  " SLURM_NTASKS=2 SLURM_LOCALID=" + std::to_string(rank) +
                                  " MASTER_PORT=" + std::to_string(port) + " bash " + task.string() + flags + " > " +
                                  (runs_ / ("rank" + std::to_string(rank))).string() + ".log 2>&1";
      status[rank] = std::system(command.c_str());
    });
  }
  for (auto& r : ranks) r.join();
  ASSERT_EQ(status[0], 0) << read_file(runs_ / "rank0.log");
  ASSERT_EQ(status[1], 0) << read_file(runs_ / "rank1.log");
  const auto manifest = nlohmann::json::parse(std::ifstream(run / "run.json"));
  EXPECT_EQ(manifest["world_size"], 2);
  EXPECT_EQ(manifest["global_batch"], 4);
  EXPECT_TRUE(fs::exists(run / "checkpoints" / "step-00000002.safetensors"));
}

TEST_F(TrainTest, ASecondTrainingOfARunInUseIsRefusedAndAKilledOnesLockFileIsNothing) {
  const auto run = runs_ / "run";
  ASSERT_EQ(run_tessera(train_args(run, 2)).exit_code, 0);
  {
    // A first run still writing: a second one, fresh or resumed, is refused.
    const FolderLock first(run);
    for (const bool resume : {false, true}) {
      const auto second =
          run_tessera(train_args(run, 4, resume ? std::vector<std::string>{"--resume"} : std::vector<std::string>{}));
      EXPECT_EQ(second.exit_code, 1) << second.output;
      EXPECT_NE(second.output.find(run.string() + " is in use by another tessera process"), std::string::npos)
          << second.output;
      EXPECT_EQ(losses(run / "loss.csv").size(), 2u) << "the refused run wrote into the folder";
    }
  }
  // What kill -9 leaves behind: the lock file, with no lock on it.
  std::ofstream(run / FolderLock::kFileName) << "12345\n";
  const auto resumed = run_tessera(train_args(run, 4, {"--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(losses(run / "loss.csv").size(), 4u);
  EXPECT_FALSE(fs::exists(run / FolderLock::kFileName)) << "a finished run releases its lock";
  const fs::path fresh = runs_ / "stale-lock";
  fs::create_directories(fresh);
  std::ofstream(fresh / FolderLock::kFileName) << "12345\n";
  ASSERT_EQ(run_tessera(train_args(fresh, 2)).exit_code, 0) << "a lock file alone counts as an empty run";
}

TEST_F(TrainTest, BadConfigKeysAndUnknownModelsAreClearErrors) {
  const auto& d = *dir_;
  std::ofstream(runs_ / "bad.yaml") << std::string(kTinyLdm) + "  batch_sise: 4\n";
  auto args = train_args(runs_ / "a", 2);
  args[4] = (runs_ / "bad.yaml").string();
  const auto bad = run_tessera(args);
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("training.batch_sise: unknown key"), std::string::npos) << bad.output;

  args = train_args(runs_ / "b", 2);
  args[6] = std::string(32, 'f');  // --vae-model
  const auto unknown = run_tessera(args);
  EXPECT_EQ(unknown.exit_code, 1);
  EXPECT_NE(unknown.output.find("has no such model"), std::string::npos) << unknown.output;

  args = train_args(runs_ / "c", 2);
  args[6] = *text_id_;  // a text model where a VAE belongs
  const auto wrong_role = run_tessera(args);
  EXPECT_EQ(wrong_role.exit_code, 1);
  EXPECT_NE(wrong_role.output.find("not a first_stage"), std::string::npos) << wrong_role.output;
  EXPECT_FALSE(fs::exists(runs_ / "a"));
  (void)d;
}

TEST(TrainingSamples, DropoutHasTheConfiguredFrequencyForEveryTile) {
  // 20000 tiles at p = 0.1: the count of drops is Binomial(20000, 0.1), sd 42.4;
  // 5 sd either side fails about once in 1.7 million runs of a fair coin.
  for (const double p : {0.1, 0.5}) {
    size_t dropped = 0;
    const size_t n = 20000;
    for (size_t i = 0; i < n; ++i) {
      dropped +=
          runtime::draw_for_sample(7, 3, {"slide-" + std::to_string(i % 13), uint32_t(i), 0}, p, true).drop_prompt;
    }
    const double sd = std::sqrt(n * p * (1 - p));
    EXPECT_NEAR(double(dropped), n * p, 5 * sd) << "p = " << p;
  }
  // Fixed by the seed: the same draw every time, another with another epoch.
  const store::TileKey tile{"s", 1, 2};
  EXPECT_EQ(runtime::draw_for_sample(1, 0, tile, 0.5, true).noise_seed,
            runtime::draw_for_sample(1, 0, tile, 0.5, true).noise_seed);
  EXPECT_NE(runtime::draw_for_sample(1, 0, tile, 0.5, true).noise_seed,
            runtime::draw_for_sample(1, 1, tile, 0.5, true).noise_seed);
  EXPECT_FALSE(runtime::draw_for_sample(1, 0, tile, 0.0, true).drop_prompt);
  EXPECT_TRUE(runtime::draw_for_sample(1, 0, tile, 1.0, true).drop_prompt);
}

TEST(TrainingSamples, EpochsArePermutationsAndRanksTakeTheirSlices) {
  const auto order = runtime::epoch_order(1000, 5, 2);
  EXPECT_EQ(std::set<uint32_t>(order.begin(), order.end()).size(), 1000u);
  EXPECT_EQ(order, runtime::epoch_order(1000, 5, 2));
  EXPECT_NE(order, runtime::epoch_order(1000, 5, 3));
  // Step 2 of global batch 8 over 20 samples, rank 1 of per-rank 4: positions 20..23 = epoch 1, 0..3.
  const auto positions = runtime::step_positions(2, 8, 1, 4, 20);
  ASSERT_EQ(positions.size(), 4u);
  EXPECT_EQ(positions[0].epoch, 1u);
  EXPECT_EQ(positions[0].index, 0u);
  EXPECT_EQ(positions[3].index, 3u);
  const auto rank0 = runtime::step_positions(2, 8, 0, 4, 20);
  EXPECT_EQ(rank0[0].epoch, 0u);
  EXPECT_EQ(rank0[0].index, 16u);
}

}  // namespace
}  // namespace tessera
