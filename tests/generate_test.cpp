// tessera generate through the CLI, as users run it, with the tiny LDM's
// random weights: byte-identical reruns, resume after a kill, refused
// settings, manifests that tessera export reads, prompts from files and from
// a store, and the contact-sheet grid. Tests whose prompts need CLIP's
// vocabulary (../shared/data/clip) skip without it; the others draw from a
// store ingested without prompts, where every tile is unconditional and so
// every image gets the empty prompt.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/folder_lock.h"
#include "imaging/image_file.h"
#include "imaging/image_grid.h"
#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "runtime/model_loading.h"
#include "runtime/run_folder.h"
#include "runtime/vocabulary.h"
#include "store/keys.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

std::string read_bytes(const fs::path& path) {
  std::ifstream in(path, std::ios::binary);
  std::ostringstream out;
  out << in.rdbuf();
  return out.str();
}

std::vector<nlohmann::json> manifest_rows(const fs::path& out) {
  std::vector<nlohmann::json> rows;
  std::ifstream in(out / "manifest.jsonl");
  for (std::string line; std::getline(in, line);) rows.push_back(nlohmann::json::parse(line));
  return rows;
}

// The images of a folder by name, with their bytes.
std::map<std::string, std::string> image_files(const fs::path& out) {
  std::map<std::string, std::string> files;
  for (const auto& entry : fs::directory_iterator(out / "images")) {
    files[entry.path().filename().string()] = read_bytes(entry.path());
  }
  return files;
}

// A freshly initialised UNet predicts exactly 0 (upstream's zero_module
// layers), whatever the prompt. These are the same weights with those layers
// drawn from N(0, 0.05²), so the prompt and the guidance change the images.
void write_conditioned_weights(const fs::path& initialised, const fs::path& out) {
  const auto weights = model::WeightsSet::open(initialised.string());
  torch::manual_seed(5);
  std::vector<model::TensorData> tensors;
  for (const auto& name : weights.names()) {
    const auto& view = weights.at(name);
    const bool zero_module =
        name.rfind("model.diffusion_model.", 0) == 0 &&
        (name.find(".out_layers.3.") != std::string::npos || name.find(".proj_out.") != std::string::npos ||
         name.rfind("model.diffusion_model.out.2.", 0) == 0);
    if (zero_module) {
      tensors.push_back(model::from_torch(name, torch::randn(view.shape) * 0.05));
    } else {
      tensors.push_back({name, view.dtype, view.shape, std::vector<uint8_t>(view.data, view.data + view.bytes)});
    }
  }
  model::write_safetensors(out.string(), tensors);
}

// One tiny LDM (model init: all three parts, CLIP B/32's text tower), a run
// folder around it that trained on prompts of a vocabulary learned at test
// time, and a store without prompts, shared by the tests.
class GenerateTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    dir_ = new testing::TempDir();
    const auto initialised = *dir_ / "init.safetensors";
    const auto init = run_tessera({"model", "init", "--config", (testing::kLdmConfigs / "tiny-ldm.yaml").string(),
                                   "--seed", "1", "--out", initialised.string()});
    ASSERT_EQ(init.exit_code, 0) << init.output;
    weights_ = *dir_ / "ldm.safetensors";
    write_conditioned_weights(initialised, weights_);
    fs::remove(initialised);
    store_ = testing::ingest_test_slide(dir_->path());
    const auto config = (testing::kLdmConfigs / "tiny-ldm.yaml").string();
    vae_id_ = runtime::load_autoencoder(config, weights_.string()).id;
    text_id_ = runtime::load_text_encoder(config, weights_.string()).id;
    vocab_ = testing::write_learned_vocabulary(*dir_ / "vocab.txt.gz");
    run_ = make_run("run", vae_id_);
  }

  static void TearDownTestSuite() {
    delete dir_;
    dir_ = nullptr;
  }

  static fs::path make_run(const std::string& name, const std::string& vae_id, bool records_vocabulary = true) {
    const fs::path run = *dir_ / name;
    fs::create_directories(run / "checkpoints");
    fs::copy_file(testing::kLdmConfigs / "tiny-ldm.yaml", run / "config.yaml");
    fs::create_symlink(weights_, run / "checkpoints" / "step-00000001.safetensors");
    const nlohmann::json manifest = {
        {"format", "tessera-run/1"},
        {"store", store_.string()},
        {"config", "config.yaml"},
        {"vae_model_id", vae_id},
        {"text_model_id", text_id_},
        {"vae", {{"config", (testing::kLdmConfigs / "tiny-ldm.yaml").string()}, {"weights", weights_.string()}}},
        {"text", {{"config", (testing::kLdmConfigs / "tiny-ldm.yaml").string()}, {"weights", weights_.string()}}},
        {"template", "pathldm"},
        {"token_budget", 35},
        {"vocabulary", records_vocabulary ? runtime::vocabulary_field(runtime::load_vocabulary(vocab_.string()).record)
                                          : nlohmann::json(nullptr)},
        {"seed", 0},
        {"steps", 1}};
    std::ofstream(run / "run.json") << manifest.dump(2);
    return run;
  }

  // tessera generate --run RUN with a fast setting: 4 DDIM steps, batches of 2, one
  // thread (the files are byte-identical for one thread count).
  static testing::CommandResult generate(const fs::path& out, const std::vector<std::string>& extra = {},
                                         const std::vector<std::string>& env = {}) {
    std::vector<std::string> args = {"generate", "--out", out.string(), "--steps", "4",          "--batch", "2",
                                     "--device", "cpu",   "--threads",  "1",       "--progress", "quiet",   "--json"};
    const bool model_given = std::find(extra.begin(), extra.end(), "--config") != extra.end() ||
                             std::find(extra.begin(), extra.end(), "--run") != extra.end();
    if (!model_given) args.insert(args.end(), {"--run", run_.string()});
    const bool prompts_given = std::find(extra.begin(), extra.end(), "--prompts") != extra.end() ||
                               std::find(extra.begin(), extra.end(), "--from-store") != extra.end();
    if (!prompts_given) args.insert(args.end(), {"--from-store", store_.string()});
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args, env);
  }

  static testing::TempDir* dir_;
  static fs::path weights_, store_, run_, vocab_;
  static std::string vae_id_, text_id_;
};

testing::TempDir* GenerateTest::dir_ = nullptr;
fs::path GenerateTest::weights_, GenerateTest::store_, GenerateTest::run_, GenerateTest::vocab_;
std::string GenerateTest::vae_id_, GenerateTest::text_id_;

TEST(ImageGrid, PlacesImagesRowMajorWithGapsOnTheBackground) {
  std::vector<stages::RgbImage> images;
  for (int i = 0; i < 5; ++i) images.emplace_back(4, 3, uint8_t(10 * (i + 1)));
  images.emplace_back(2, 2, uint8_t(99));  // smaller than its cell
  const auto grid = stages::make_image_grid(images, 4, /*gap=*/2, /*background=*/255);
  // 4 columns of 4 px and 2 rows of 3 px, 2 px between cells, none around.
  EXPECT_EQ(grid.width, 4 * 4 + 3 * 2);
  EXPECT_EQ(grid.height, 2 * 3 + 2);
  EXPECT_EQ(grid.at(0, 0)[0], 10);
  EXPECT_EQ(grid.at(3, 2)[1], 10);
  EXPECT_EQ(grid.at(4, 0)[2], 255);   // the gap after the first cell
  EXPECT_EQ(grid.at(6, 0)[0], 20);    // the second image
  EXPECT_EQ(grid.at(18, 2)[0], 40);   // the fourth, last column
  EXPECT_EQ(grid.at(0, 3)[0], 255);   // the gap between rows
  EXPECT_EQ(grid.at(0, 5)[0], 50);    // the fifth image starts the second row
  EXPECT_EQ(grid.at(7, 6)[0], 99);    // the small one at its cell's top-left corner
  EXPECT_EQ(grid.at(8, 7)[0], 255);   // and background beside it
  EXPECT_EQ(grid.at(12, 5)[0], 255);  // empty cells
  // Fewer images than columns: the grid is only as wide as they are.
  EXPECT_EQ(stages::make_image_grid({images[0], images[1]}, 8).width, 4 + 2 + 4);
  EXPECT_THROW(stages::make_image_grid({}, 2), std::invalid_argument);
  EXPECT_THROW(stages::make_image_grid(images, 0), std::invalid_argument);
}

TEST_F(GenerateTest, TheSameSeedGivesByteIdenticalFilesAndExportReadsTheManifest) {
  const auto a = *dir_ / "same-a", b = *dir_ / "same-b";
  const auto ra = generate(a, {"--n", "4", "--seed", "7"});
  ASSERT_EQ(ra.exit_code, 0) << ra.output;
  const auto rb = generate(b, {"--n", "4", "--seed", "7"});
  ASSERT_EQ(rb.exit_code, 0) << rb.output;
  const auto summary = json_of(ra);
  EXPECT_EQ(summary["generated"], 4);
  EXPECT_EQ(summary["batches"], 2);
  EXPECT_GT(summary["unet_seconds"].get<double>(), 0.0);
  EXPECT_LT(summary["unet_seconds"].get<double>(), summary["seconds"].get<double>());

  const auto files = image_files(a);
  EXPECT_EQ(files, image_files(b));
  EXPECT_EQ(read_bytes(a / "manifest.jsonl"), read_bytes(b / "manifest.jsonl"));
  EXPECT_EQ(read_bytes(a / "contact_sheet.png"), read_bytes(b / "contact_sheet.png"));

  // One row per image, in the export format; the store has no prompts, so
  // every image is unconditional: the empty prompt, without fields.
  const auto rows = manifest_rows(a);
  ASSERT_EQ(rows.size(), 4u);
  std::set<std::string> named;
  for (size_t i = 0; i < rows.size(); ++i) {
    const auto& row = rows[i];
    EXPECT_EQ(row["index"], i);
    EXPECT_EQ(row["file"], "images/00000" + std::to_string(i) + ".png");
    named.insert(fs::path(row["file"].get<std::string>()).filename().string());
    EXPECT_EQ(row["prompt"], "");
    EXPECT_EQ(row["prompt_id"], store::prompt_id(""));
    EXPECT_EQ(row["seed"], 7);
    EXPECT_TRUE(row["fields"].is_object());
    EXPECT_TRUE(row["fields"].empty());
    EXPECT_EQ(row["model_ids"]["first_stage"], vae_id_);
    EXPECT_EQ(row["model_ids"]["cond_stage"], text_id_);
    EXPECT_EQ(row["model_ids"]["unet"], summary["model_ids"]["unet"]);
    EXPECT_EQ(row["sampler"], (nlohmann::json{{"name", "ddim"}, {"steps", 4}, {"eta", 0.0}, {"guidance", 1.5}}));
    EXPECT_EQ(row["synthetic"], true);
    const auto image = stages::read_image((a / row["file"].get<std::string>()).string());
    EXPECT_EQ(image.width, 32);  // 16 x 16 latents through the f2 first stage
    EXPECT_EQ(image.height, 32);
  }
  std::set<std::string> present;
  for (const auto& [name, bytes] : files) present.insert(name);
  EXPECT_EQ(named, present);
  const auto sheet = stages::read_image((a / "contact_sheet.png").string());
  EXPECT_EQ(sheet.width, 2 * 32 + 2);
  EXPECT_EQ(sheet.height, 2 * 32 + 2);

  const auto exported = *dir_ / "export";
  const auto e = run_tessera({"export", "--store", store_.string(), "--out", exported.string(), "--format",
                              "imagefolder", "--synthetic", a.string(), "--progress", "quiet"});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  const auto dataset = nlohmann::json::parse(read_bytes(exported / "dataset.json"));
  EXPECT_EQ(dataset["counts"]["source"]["synthetic"], 4);
}

TEST_F(GenerateTest, ASecondGenerateIntoASetInUseIsRefused) {
  const auto out = *dir_ / "in-use";
  ASSERT_EQ(generate(out, {"--n", "2"}).exit_code, 0);
  {
    // A first run still writing: a second one, which would add images, is refused.
    const FolderLock first(out);
    const auto second = generate(out, {"--n", "4"});
    EXPECT_EQ(second.exit_code, 1) << second.output;
    EXPECT_NE(second.output.find(out.string() + " is in use by another tessera process"), std::string::npos)
        << second.output;
    EXPECT_EQ(manifest_rows(out).size(), 2u) << "the refused run wrote into the set";
  }
  // What kill -9 leaves behind: the lock file, with no lock on it.
  std::ofstream(out / FolderLock::kFileName) << "12345\n";
  const auto resumed = generate(out, {"--n", "4"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(manifest_rows(out).size(), 4u);
  const fs::path fresh = *dir_ / "stale-lock";
  fs::create_directories(fresh);
  std::ofstream(fresh / FolderLock::kFileName) << "12345\n";
  ASSERT_EQ(generate(fresh, {"--n", "2"}).exit_code, 0) << "a lock file alone counts as an empty set";
}

TEST_F(GenerateTest, DifferentSeedsGiveDifferentImages) {
  const auto a = *dir_ / "seed-1", b = *dir_ / "seed-2";
  ASSERT_EQ(generate(a, {"--n", "2", "--seed", "1"}).exit_code, 0);
  ASSERT_EQ(generate(b, {"--n", "2", "--seed", "2"}).exit_code, 0);
  const auto fa = image_files(a), fb = image_files(b);
  ASSERT_EQ(fa.size(), 2u);
  for (const auto& [name, bytes] : fa) EXPECT_NE(bytes, fb.at(name)) << name;
  // Within one run, images differ too: each has its own starting noise.
  EXPECT_NE(fa.at("000000.png"), fa.at("000001.png"));
}

TEST_F(GenerateTest, AKilledRunResumesToTheFilesOfAnUninterruptedOne) {
  const auto reference = *dir_ / "resume-reference", out = *dir_ / "resume";
  ASSERT_EQ(generate(reference, {"--n", "6"}).exit_code, 0);

  const auto killed = generate(out, {"--n", "6"}, {"TESSERA_CRASH_AT=generate.batch_written:1"});
  EXPECT_EQ(killed.exit_code, 128 + 9) << killed.output;
  EXPECT_EQ(manifest_rows(out).size(), 2u);  // exactly the committed batch
  EXPECT_FALSE(fs::exists(out / "contact_sheet.png"));
  const auto resumed = generate(out, {"--n", "6"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["present"], 2);
  EXPECT_EQ(json_of(resumed)["generated"], 4);
  EXPECT_EQ(image_files(out), image_files(reference));
  EXPECT_EQ(read_bytes(out / "manifest.jsonl"), read_bytes(reference / "manifest.jsonl"));
  EXPECT_EQ(read_bytes(out / "contact_sheet.png"), read_bytes(reference / "contact_sheet.png"));

  // The last batch's images and rows gone, and a row cut short by a kill
  // mid-write: the rerun drops the torn line and makes exactly that batch.
  auto manifest = read_bytes(out / "manifest.jsonl");
  for (int row = 0; row < 2; ++row) manifest.resize(manifest.rfind('\n', manifest.size() - 2) + 1);
  manifest += R"({"file": "images/000004.png", "pro)";
  std::ofstream(out / "manifest.jsonl", std::ios::trunc | std::ios::binary) << manifest;
  fs::remove(out / "images" / "000004.png");
  fs::remove(out / "images" / "000005.png");
  const auto again = generate(out, {"--n", "6"});
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(json_of(again)["generated"], 2);
  EXPECT_EQ(json_of(again)["batches"], 1);
  EXPECT_EQ(image_files(out), image_files(reference));
  EXPECT_EQ(read_bytes(out / "manifest.jsonl"), read_bytes(reference / "manifest.jsonl"));

  // Nothing left to do: nothing is made, and a larger --n only adds.
  const auto done = generate(out, {"--n", "6"});
  EXPECT_EQ(json_of(done)["generated"], 0);
  const auto more = generate(out, {"--n", "8"});
  ASSERT_EQ(more.exit_code, 0) << more.output;
  EXPECT_EQ(json_of(more)["generated"], 2);
  EXPECT_EQ(manifest_rows(out).size(), 8u);
}

TEST_F(GenerateTest, OtherSettingsOnResumeAreRefused) {
  const auto out = *dir_ / "settings";
  ASSERT_EQ(generate(out, {"--n", "2"}).exit_code, 0);
  const auto before = read_bytes(out / "manifest.jsonl");
  const auto guidance = generate(out, {"--n", "4", "--guidance", "3"});
  EXPECT_EQ(guidance.exit_code, 1);
  EXPECT_NE(guidance.output.find("guidance 1.5 (now 3.0)"), std::string::npos) << guidance.output;
  const auto seed = generate(out, {"--n", "4", "--seed", "5"});
  EXPECT_EQ(seed.exit_code, 1);
  EXPECT_NE(seed.output.find("seed 0 (now 5)"), std::string::npos) << seed.output;
  const auto format = generate(out, {"--n", "4", "--format", "jpeg"});
  EXPECT_EQ(format.exit_code, 1);
  EXPECT_EQ(read_bytes(out / "manifest.jsonl"), before);
  EXPECT_EQ(image_files(out).size(), 2u);

  // A folder that generate did not make is never written into.
  const auto foreign = *dir_ / "foreign";
  fs::create_directories(foreign);
  std::ofstream(foreign / "notes.txt") << "mine";
  const auto r = generate(foreign, {"--n", "2"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("has no generate.json"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(foreign / "images"));
}

TEST_F(GenerateTest, ATruncatedCheckpointIsAnErrorNamingIt) {
  const auto truncated = *dir_ / "step-truncated.safetensors";
  fs::copy_file(weights_, truncated, fs::copy_options::overwrite_existing);
  fs::resize_file(truncated, fs::file_size(truncated) / 2);
  const auto out = *dir_ / "truncated";
  const auto r = generate(out, {"--n", "2", "--checkpoint", truncated.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("step-truncated.safetensors"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));
}

TEST_F(GenerateTest, TheHighestStepIsUsedAndOneLdmCheckpointGivesTheSameImages) {
  // A later checkpoint: the highest step number wins, whatever the names sort as.
  // The run trained on no prompts, so its empty prompt is CLIP's, as it is
  // for --config and --weights.
  const auto source = make_run("steps-source", vae_id_, false);
  const auto run = *dir_ / "steps-run";
  fs::create_directories(run);
  for (const auto& entry : fs::directory_iterator(source)) {
    if (entry.path().filename() != "checkpoints") fs::copy(entry.path(), run / entry.path().filename());
  }
  fs::create_directories(run / "checkpoints");
  fs::create_symlink(weights_, run / "checkpoints" / "step-00000100.safetensors");
  const auto broken = run / "checkpoints" / "step-00000099.safetensors";
  std::ofstream(broken) << "not a checkpoint";
  const auto from_run = generate(*dir_ / "highest", {"--run", run.string(), "--n", "2"});
  ASSERT_EQ(from_run.exit_code, 0) << from_run.output;
  EXPECT_NE(json_of(from_run)["checkpoint"].get<std::string>().find("step-00000100"), std::string::npos);

  const auto ldm = generate(*dir_ / "ldm", {"--config", (testing::kLdmConfigs / "tiny-ldm.yaml").string(), "--weights",
                                            weights_.string(), "--n", "2"});
  ASSERT_EQ(ldm.exit_code, 0) << ldm.output;
  EXPECT_EQ(json_of(ldm)["model_ids"], json_of(from_run)["model_ids"]);
  EXPECT_EQ(image_files(*dir_ / "ldm"), image_files(*dir_ / "highest"));

  const auto none = *dir_ / "no-checkpoints";
  fs::create_directories(none / "checkpoints");
  fs::copy_file(run / "run.json", none / "run.json");
  const auto r = generate(*dir_ / "none", {"--run", none.string(), "--n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("no step-NNNNNNNN.safetensors"), std::string::npos) << r.output;
}

TEST_F(GenerateTest, ARunWhoseVaeChangedIsRefused) {
  const auto run = make_run("changed-run", std::string(32, 'a'));
  const auto r = generate(*dir_ / "changed", {"--run", run.string(), "--n", "1"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("trained on first stage " + std::string(32, 'a')), std::string::npos) << r.output;
}

TEST_F(GenerateTest, TheStoresEmbeddingsGiveTheImagesOfComputedOnes) {
  // Embedded by encode-text (fp16, as training reads them) or here (rounded
  // to fp16 the same way): the same contexts, so the same files.
  const auto store = *dir_ / "embedded-store";
  fs::copy(store_, store, fs::copy_options::recursive);
  const auto config = (testing::kLdmConfigs / "tiny-ldm.yaml").string();
  const auto e = run_tessera({"encode-text", "--store", store.string(), "--text-config", config, "--text-weights",
                              weights_.string(), "--device", "cpu", "--threads", "1", "--progress", "quiet", "--json"});
  ASSERT_EQ(e.exit_code, 0) << e.output;
  EXPECT_EQ(json_of(e)["model_id"], text_id_);
  // The store has no prompts, so no vocabulary: a run that records none has
  // the same empty prompt (CLIP's start and end tokens).
  const auto run = make_run("run-on-no-prompts", vae_id_, false);
  const auto stored = *dir_ / "with-embeddings", computed = *dir_ / "without-embeddings";
  ASSERT_EQ(generate(stored, {"--run", run.string(), "--from-store", store.string(), "--n", "2"}).exit_code, 0);
  ASSERT_EQ(generate(computed, {"--run", run.string(), "--n", "2"}).exit_code, 0);
  EXPECT_EQ(image_files(stored), image_files(computed));
}

TEST_F(GenerateTest, DdpmTakesNoStepCount) {
  const auto r = generate(*dir_ / "ddpm", {"--n", "1", "--sampler", "ddpm"});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("--sampler ddpm runs every timestep"), std::string::npos) << r.output;
}

TEST_F(GenerateTest, PromptFilesAreCycledInOrderAndChecked) {
  const fs::path vocab = vocab_;
  const auto txt = *dir_ / "prompts.txt";
  std::ofstream(txt) << "high tumor; low til\n\nlow tumor; high til; invasive ductal carcinoma\n";
  const auto out = *dir_ / "from-txt";
  const auto r = generate(out, {"--prompts", txt.string(), "--clip-vocab", vocab.string(), "--n", "3"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto rows = manifest_rows(out);
  ASSERT_EQ(rows.size(), 3u);
  EXPECT_EQ(rows[0]["prompt"], "high tumor; low til");
  EXPECT_EQ(rows[1]["prompt"], "low tumor; high til; invasive ductal carcinoma");
  EXPECT_EQ(rows[2]["prompt"], "high tumor; low til");
  EXPECT_EQ(rows[0]["prompt_id"], store::prompt_id("high tumor; low til"));
  // A prompt gives another image than the empty one from the same noise.
  const auto unconditional = *dir_ / "unconditional";
  ASSERT_EQ(generate(unconditional, {"--n", "1"}).exit_code, 0);
  EXPECT_NE(image_files(out).at("000000.png"), image_files(unconditional).at("000000.png"));

  // Over the run's 35-token budget: the error names the line.
  const auto long_txt = *dir_ / "long.txt";
  std::ofstream(long_txt) << "short prompt\n" << std::string(200, 'a') + " " + std::string(200, 'b') << "\n";
  const auto over =
      generate(*dir_ / "long", {"--prompts", long_txt.string(), "--clip-vocab", vocab.string(), "--n", "1"});
  EXPECT_EQ(over.exit_code, 1);
  EXPECT_NE(over.output.find("long.txt:2:"), std::string::npos) << over.output;
  EXPECT_NE(over.output.find("budget of 35"), std::string::npos) << over.output;

  // A CSV is composed with the run's template, as ingest composes prompts.
  const auto csv = *dir_ / "prompts.csv";
  std::ofstream(csv) << "tumor,til,summary\nhigh,low,\"invasive ductal carcinoma, grade 2\"\nlow,,\n";
  const auto from_csv = *dir_ / "from-csv";
  const auto c = generate(from_csv, {"--prompts", csv.string(), "--clip-vocab", vocab.string(), "--n", "2"});
  ASSERT_EQ(c.exit_code, 0) << c.output;
  const auto csv_rows = manifest_rows(from_csv);
  EXPECT_EQ(csv_rows[0]["prompt"], "high tumor; low til; invasive ductal carcinoma, grade 2");
  EXPECT_EQ(csv_rows[0]["fields"], (nlohmann::json{{"tumor", "high"}, {"til", "low"}}));
  EXPECT_EQ(csv_rows[1]["prompt"], "low tumor");
  EXPECT_EQ(csv_rows[1]["fields"], (nlohmann::json{{"tumor", "low"}}));
  const auto bad_csv = *dir_ / "bad.csv";
  std::ofstream(bad_csv) << "tumor\nhigh\nvery high\n";
  const auto bad = generate(*dir_ / "bad", {"--prompts", bad_csv.string(), "--clip-vocab", vocab.string(), "--n", "1"});
  EXPECT_EQ(bad.exit_code, 1);
  EXPECT_NE(bad.output.find("bad.csv:3"), std::string::npos) << bad.output;
}

// A prompts file that is not UTF-8 is refused by file, line and column
// before any model or the vocabulary loads, and before --out is made.
TEST_F(GenerateTest, APromptsFileThatIsNotUtf8IsRefusedBeforeAnythingLoadsOrIsWritten) {
  const auto txt = *dir_ / "latin1.txt";
  std::ofstream(txt, std::ios::binary) << "high tumor\nlow tumor, caf\xe9 au lait\n";
  const auto csv = *dir_ / "latin1.csv";
  std::ofstream(csv, std::ios::binary) << "summary\nfine\n\"na\xefve\"\n";
  const std::vector<std::string> models[] = {
      {"--config", (testing::kLdmConfigs / "tiny-ldm.yaml").string(), "--weights", weights_.string()},
      {"--run", run_.string()}};
  // A vocabulary that is not there shows the file is checked before it
  // loads; the run's own lets a run get as far as it would.
  const std::vector<fs::path> vocabularies = {*dir_ / "no-vocab.txt.gz", vocab_};
  for (const auto& model : models) {
    for (const auto& vocab : vocabularies) {
      for (const auto& [file, where] :
           {std::pair{txt, "latin1.txt:2:15: invalid UTF-8"}, std::pair{csv, "latin1.csv:3:4: invalid UTF-8"}}) {
        SCOPED_TRACE(model[0] + " " + vocab.string() + " " + file.string());
        const auto out = *dir_ / "not-utf8";
        auto args = model;
        args.insert(args.end(), {"--prompts", file.string(), "--clip-vocab", vocab.string(), "--n", "2"});
        const auto r = generate(out, args);
        EXPECT_EQ(r.exit_code, 1) << r.output;
        EXPECT_NE(r.output.find(where), std::string::npos) << r.output;
        EXPECT_EQ(r.output.find("json"), std::string::npos) << r.output;
        EXPECT_FALSE(fs::exists(out));
        fs::remove_all(out);
      }
    }
  }
}

// Token ids of one vocabulary are other words in another: prompts tokenised
// with a vocabulary the run did not train with are refused, naming both.
TEST_F(GenerateTest, PromptsOfAnotherVocabularyThanTheRunsAreRefusedNamingBoth) {
  const auto txt = *dir_ / "vocabulary-prompts.txt";
  std::ofstream(txt) << "high tumor; low til\n";
  const auto other = testing::write_learned_vocabulary(*dir_ / "other.txt.gz", {"stroma stroma necrosis necrosis"});
  const auto run_fingerprint = runtime::load_vocabulary(vocab_.string()).record.fingerprint;
  const auto other_fingerprint = runtime::load_vocabulary(other.string()).record.fingerprint;
  ASSERT_NE(run_fingerprint, other_fingerprint);

  const auto out = *dir_ / "other-vocabulary";
  const auto r = generate(out, {"--prompts", txt.string(), "--clip-vocab", other.string(), "--n", "1"});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("uses vocabulary " + other_fingerprint), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("was made with vocabulary " + run_fingerprint), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(out));

  // Without --clip-vocab the run's own vocabulary tokenises the file.
  const auto own = generate(out, {"--prompts", txt.string(), "--n", "1"});
  ASSERT_EQ(own.exit_code, 0) << own.output;
  EXPECT_EQ(manifest_rows(out).at(0)["prompt"], "high tumor; low til");

  // A run that records no vocabulary trained with CLIP's (or on no prompts):
  // a learned one is refused for it.
  const auto legacy = make_run("run-without-vocabulary", vae_id_, false);
  const auto refused = generate(*dir_ / "legacy", {"--run", legacy.string(), "--prompts", txt.string(), "--clip-vocab",
                                                   vocab_.string(), "--n", "1"});
  EXPECT_EQ(refused.exit_code, 1) << refused.output;
  EXPECT_NE(refused.output.find("records none"), std::string::npos) << refused.output;
}

TEST_F(GenerateTest, BalanceGivesEachBinTheSameNumberOfImages) {
  const fs::path vocab = vocab_;
  // Tumour high on the left half of the slide, low on the right; TIL medium
  // on top, low below: the store's prompts carry those bin words.
  const auto attributes = *dir_ / "attributes.csv";
  {
    std::ofstream out(attributes);
    out << "slide,x,y,w,h,mpp,tumor,til\n";
    for (int y = 0; y < 1536; y += 256) {
      for (int x = 0; x < 2048; x += 256) {
        out << testing::kTestSlideId << ',' << x << ',' << y << ",256,256,0.5," << (x < 1024 ? 0.9 : 0.1) << ','
            << (y < 768 ? 0.5 : 0.1) << '\n';
      }
    }
  }
  const auto store = *dir_ / "prompt-store";
  const auto ingest = run_tessera({"ingest", "--store", store.string(), "--slides", (*dir_ / "slides").string(),
                                   "--tile", "64", "--mpp", "2", "--progress", "quiet", "--no-qc", "--tile-attributes",
                                   attributes.string(), "--clip-vocab", vocab.string()});
  ASSERT_EQ(ingest.exit_code, 0) << ingest.output;

  const auto out = *dir_ / "balanced";
  const auto r = generate(out, {"--from-store", store.string(), "--balance", "tumor", "--n", "6"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  std::map<std::string, int> per_bin;
  for (const auto& row : manifest_rows(out)) {
    ++per_bin[row["fields"]["tumor"].get<std::string>()];
    const std::string prompt = row["prompt"];
    EXPECT_EQ(prompt.rfind(row["fields"]["tumor"].get<std::string>() + " tumor; ", 0), 0u) << prompt;
    EXPECT_EQ(row["prompt_id"], store::prompt_id(prompt));
  }
  EXPECT_EQ(per_bin, (std::map<std::string, int>{{"high", 3}, {"low", 3}}));

  // Without --balance the store's own prompts are drawn, each one stored.
  const auto mixed = *dir_ / "mixed";
  ASSERT_EQ(generate(mixed, {"--from-store", store.string(), "--n", "4"}).exit_code, 0);
  for (const auto& row : manifest_rows(mixed)) {
    EXPECT_NE(row["prompt"].get<std::string>().find(" tumor; "), std::string::npos) << row.dump();
  }
  const auto til = generate(*dir_ / "til", {"--from-store", store_.string(), "--balance", "til", "--n", "2"});
  EXPECT_EQ(til.exit_code, 1);
  EXPECT_NE(til.output.find("no prompt of store"), std::string::npos) << til.output;
}

}  // namespace
}  // namespace tessera
