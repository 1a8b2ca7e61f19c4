// tessera export: the tar writer read back by this test's own parser, GNU tar
// and Python; synthetic sets' manifests and settings; WebDataset member order,
// sizes and shard rollover; case and slide splits; ImageFolder layout;
// refusals before anything is written.
#include "pipeline/export.h"

#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <set>
#include <sstream>

#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"
#include "dataset/image_folder_writer.h"
#include "dataset/owned_files.h"
#include "dataset/path_component.h"
#include "dataset/synthetic_set.h"
#include "dataset/tar_reader.h"
#include "dataset/tar_writer.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "pipeline/ingest.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera::pipeline {
namespace {
namespace fs = std::filesystem;
using nlohmann::json;
using testing::run_tessera;

// ---- Reading tars back ------------------------------------------------------

struct Member {
  std::string name;
  std::string data;
};

uint64_t octal(const char* field, size_t width) {
  uint64_t value = 0;
  for (size_t i = 0; i < width && field[i] >= '0' && field[i] <= '7'; ++i) value = value * 8 + uint64_t(field[i] - '0');
  return value;
}

std::string field_text(const char* field, size_t width) { return std::string(field, strnlen(field, width)); }

// A strict reader of what TarWriter writes: checks every header's checksum,
// magic and mode, applies pax `path` records and the ustar prefix, and
// requires the two zero blocks at the end.
std::vector<Member> read_tar(const fs::path& path) {
  const std::string tar = tessera::read_file(path);
  EXPECT_EQ(tar.size() % 512, 0u) << path;
  std::vector<Member> members;
  std::string pax_path;
  size_t at = 0;
  while (true) {
    if (at + 1024 > tar.size()) {
      ADD_FAILURE() << path << " ends without two zero blocks";
      return members;
    }
    const char* h = tar.data() + at;
    if (std::all_of(h, h + 1024, [](char c) { return c == 0; })) {
      EXPECT_EQ(at + 1024, tar.size()) << path << " has bytes after its end blocks";
      return members;
    }
    uint32_t sum = 0;
    for (size_t i = 0; i < 512; ++i) sum += (i >= 148 && i < 156) ? uint32_t(' ') : uint8_t(h[i]);
    EXPECT_EQ(octal(h + 148, 8), sum) << "checksum of the header at " << at << " in " << path;
    EXPECT_EQ(std::string(h + 257, 6), std::string("ustar\0", 6));
    EXPECT_EQ(octal(h + 100, 8), 0644u);
    EXPECT_EQ(octal(h + 136, 12), 0u) << "mtime";
    const uint64_t size = octal(h + 124, 12);
    const std::string data = tar.substr(at + 512, size);
    at += 512 + (size + 511) / 512 * 512;
    if (h[156] == 'x') {
      // "LEN key=value\n" records.
      size_t p = 0;
      while (p < data.size()) {
        const size_t space = data.find(' ', p);
        const size_t length = std::stoul(data.substr(p, space - p));
        const std::string record = data.substr(space + 1, length - (space - p) - 2);
        if (record.rfind("path=", 0) == 0) pax_path = record.substr(5);
        p += length;
      }
      continue;
    }
    EXPECT_EQ(h[156], '0');
    std::string name = field_text(h, 100);
    const std::string prefix = field_text(h + 345, 155);
    if (!prefix.empty()) name = prefix + "/" + name;
    if (!pax_path.empty()) name = pax_path;
    pax_path.clear();
    members.push_back({name, data});
  }
}

std::optional<std::string> command_output(const std::string& command) {
  std::FILE* pipe = popen(command.c_str(), "r");
  if (!pipe) return std::nullopt;
  std::string out;
  char buffer[4096];
  size_t n;
  while ((n = std::fread(buffer, 1, sizeof buffer, pipe)) > 0) out.append(buffer, n);
  if (pclose(pipe) != 0) return std::nullopt;
  return out;
}

bool have(const std::string& program) {
  return std::system(("command -v " + program + " >/dev/null 2>&1").c_str()) == 0;
}

std::string joined_names(const std::vector<Member>& members) {
  std::string out;
  for (const auto& m : members) out += m.name + "\n";
  return out;
}

// ---- Stores and synthetic folders made here ------------------------------------------------

struct TestSlide {
  std::string id;
  std::string case_id;  // "" for none
  int tiles = 3;
  std::string tumor;  // prompt bin of every tile; "" for tiles without a prompt
};

std::string prompt_id_for(const std::string& tumor) {
  std::string id = tumor == "high" ? "a" : "b";
  id.resize(32, '0');
  return id;
}

std::string tile_jpeg(int shade) {
  stages::RgbImage image(16, 16, uint8_t(shade));
  image.at(3, 4)[0] = 255;
  return stages::encode_jpeg(image, {});
}

void make_store(const fs::path& dir, const std::vector<TestSlide>& slides) {
  auto store = store::Store::open(dir);
  int shade = 10;
  for (const auto& s : slides) {
    store::SlideRecord r;
    r.id = s.id;
    r.case_id = s.case_id;
    r.tile_size = 16;
    store->reset_slide(r);
    auto writer = store->slide_writer(s.id);
    if (!s.tumor.empty()) {
      store::PromptRecord p;
      p.id = prompt_id_for(s.tumor);
      p.text = s.tumor + " tumor; invasive ductal carcinoma";
      p.tumor = s.tumor;
      p.token_ids = {49406, 1, 49407};
      writer.add_prompt(p);
    }
    for (int i = 0; i < s.tiles; ++i) {
      store::TileRecord t;
      t.x = 16 * (i % 2);
      t.y = 16 * (i / 2);
      t.extent = t.size = 16;
      t.mpp = 0.5f;
      if (!s.tumor.empty()) t.prompt_id = prompt_id_for(s.tumor);
      writer.add(uint32_t(i / 2), uint32_t(i % 2), t, tile_jpeg(shade += 7));
    }
    r.status = store::SlideStatus::kComplete;
    r.tiles_kept = s.tiles;
    writer.commit(r);
  }
}

// `count` PNGs with manifest lines; `extra_line` is appended as it is.
fs::path make_synthetic(const fs::path& dir, int count, const std::string& extra_line = "") {
  fs::create_directories(dir / "images");
  std::ofstream manifest(dir / "manifest.jsonl");
  for (int i = 0; i < count; ++i) {
    char file[32];
    std::snprintf(file, sizeof file, "images/%06d.png", i);
    stages::save_png(stages::RgbImage(8, 8, uint8_t(40 * i)), (dir / file).string());
    json line = {{"file", file},
                 {"prompt", "high tumor; low til; generated " + std::to_string(i)},
                 {"prompt_id", prompt_id_for("high")},
                 {"seed", 7},
                 {"index", i},
                 {"fields", {{"tumor", i % 2 ? "low" : "high"}, {"til", "low"}}},
                 {"model_ids", {{"unet", "u1"}, {"first_stage", "f1"}, {"cond_stage", "c1"}}},
                 {"sampler", {{"name", "ddim"}, {"steps", 50}, {"eta", 0}, {"guidance", 1.5}}},
                 {"synthetic", true}};
    manifest << line.dump() << '\n';
  }
  if (!extra_line.empty()) manifest << extra_line << '\n';
  return dir;
}

ExportOptions options_for(const fs::path& store, const fs::path& out, ExportOptions::Format format) {
  ExportOptions o;
  o.store = store;
  o.out = out;
  o.format = format;
  o.progress = ProgressDisplay::kQuiet;
  return o;
}

std::vector<fs::path> shard_files(const fs::path& out) {
  std::vector<fs::path> files;
  for (const auto& e : fs::directory_iterator(out)) {
    if (e.path().extension() == ".tar") files.push_back(e.path());
  }
  std::sort(files.begin(), files.end());
  return files;
}

// Sample metadata (the .json members) of every shard, in order.
std::vector<json> webdataset_samples(const fs::path& out) {
  std::vector<json> samples;
  for (const auto& shard : shard_files(out)) {
    for (const auto& m : read_tar(shard)) {
      if (fs::path(m.name).extension() == ".json") samples.push_back(json::parse(m.data));
    }
  }
  return samples;
}

class ExportTest : public ::testing::Test {
 protected:
  void SetUp() override { stages::ensure_vips(); }
  testing::TempDir dir_;
};

// ---- The tar writer ---------------------------------------------------------

TEST_F(ExportTest, TarWriterRoundTripsShortPrefixAndPaxNames) {
  const std::string prefixed = std::string(120, 'p') + "/" + std::string(90, 'n') + ".txt";  // 215 bytes
  const std::string pax = std::string(160, 'q') + ".json";                                   // no '/' to split at
  const std::string blocky(512, 'z');
  {
    stages::TarWriter tar(dir_ / "t.tar");
    tar.add("short.txt", "hello");
    tar.add(prefixed, "prefix");
    tar.add(pax, blocky);
    tar.add("empty.txt", "");
    EXPECT_FALSE(fs::exists(dir_ / "t.tar")) << "the final name appeared before close()";
    EXPECT_TRUE(fs::exists(dir_ / "t.tar.partial"));
    const uint64_t expected = stages::TarWriter::member_bytes("short.txt", 5) +
                              stages::TarWriter::member_bytes(prefixed, 6) + stages::TarWriter::member_bytes(pax, 512) +
                              stages::TarWriter::member_bytes("empty.txt", 0);
    EXPECT_EQ(tar.bytes(), expected);
    EXPECT_EQ(stages::TarWriter::member_bytes(pax, 512),
              512u + 512u + 512u + 512u);  // pax header, records, header, data
    tar.close();
    EXPECT_EQ(fs::file_size(dir_ / "t.tar"), expected + 1024);
  }
  EXPECT_FALSE(fs::exists(dir_ / "t.tar.partial"));
  const auto members = read_tar(dir_ / "t.tar");
  ASSERT_EQ(members.size(), 4u);
  EXPECT_EQ(members[0].name, "short.txt");
  EXPECT_EQ(members[0].data, "hello");
  EXPECT_EQ(members[1].name, prefixed);
  EXPECT_EQ(members[1].data, "prefix");
  EXPECT_EQ(members[2].name, pax);
  EXPECT_EQ(members[2].data, blocky);
  EXPECT_EQ(members[3].name, "empty.txt");
  EXPECT_EQ(members[3].data, "");

  const std::string names = joined_names(members);
  if (have("tar")) {
    EXPECT_EQ(command_output("tar -tf '" + (dir_ / "t.tar").string() + "'"), names);
  }
  if (have("python3")) {
    EXPECT_EQ(command_output("python3 -c 'import sys, tarfile\n"
                             "with tarfile.open(sys.argv[1]) as t:\n"
                             "    for m in t.getmembers(): print(m.name)\n"
                             "    assert t.extractfile(t.getmembers()[2]).read() == b\"z\" * 512' '" +
                             (dir_ / "t.tar").string() + "'"),
              names);
  }
}

TEST_F(ExportTest, TarReaderReadsWhatTarWriterAndGnuTarWrite) {
  const std::string prefixed = std::string(120, 'p') + "/" + std::string(90, 'n') + ".txt";
  const std::string pax = std::string(160, 'q') + ".json";
  {
    stages::TarWriter tar(dir_ / "t.tar");
    tar.add("short.txt", "hello");
    tar.add(prefixed, "prefix");
    tar.add(pax, std::string(700, 'z'));
    tar.close();
  }
  const auto members = stages::list_tar_members(dir_ / "t.tar");
  ASSERT_EQ(members.size(), 3u);
  EXPECT_EQ(members[0].name, "short.txt");
  EXPECT_EQ(members[1].name, prefixed);
  EXPECT_EQ(members[2].name, pax);
  EXPECT_EQ(members[2].size, 700u);
  EXPECT_EQ(stages::read_tar_member(dir_ / "t.tar", members[2]), std::string(700, 'z'));
  EXPECT_EQ(stages::read_tar_member(dir_ / "t.tar", members[0]), "hello");

  if (have("tar")) {
    // GNU tar's own long names ('L' entries) and a directory entry, which is skipped.
    const fs::path tree = dir_ / "tree";
    fs::create_directories(tree / "d");
    const std::string long_name = std::string(150, 'l') + ".png";
    write_file(tree / "d" / long_name, "png bytes");
    ASSERT_EQ(std::system(
                  ("tar --format=gnu -cf '" + (dir_ / "gnu.tar").string() + "' -C '" + tree.string() + "' d").c_str()),
              0);
    const auto gnu = stages::list_tar_members(dir_ / "gnu.tar");
    ASSERT_EQ(gnu.size(), 1u);
    EXPECT_EQ(gnu[0].name, "d/" + long_name);
    EXPECT_EQ(stages::read_tar_member(dir_ / "gnu.tar", gnu[0]), "png bytes");
  }

  // A damaged header is named with its offset; a file that is not tar says so.
  testing::flip_bytes(dir_ / "t.tar", 512 + 512 + 10, 1);
  try {
    (void)stages::list_tar_members(dir_ / "t.tar");
    FAIL() << "a damaged header was read";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("t.tar: the tar header at byte 1024 has a wrong checksum"), std::string::npos)
        << e.what();
  }
  write_file(dir_ / "not.tar", std::string(2048, 'x'));
  try {
    (void)stages::list_tar_members(dir_ / "not.tar");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("not a tar archive"), std::string::npos) << e.what();
  }
}

TEST_F(ExportTest, TarWriterDestroyedWithoutCloseLeavesNothing) {
  {
    stages::TarWriter tar(dir_ / "crash.tar");
    tar.add("a.txt", "half");
  }
  EXPECT_FALSE(fs::exists(dir_ / "crash.tar"));
  EXPECT_FALSE(fs::exists(dir_ / "crash.tar.partial"));
}

// ---- Synthetic sets -----------------------------------------------------------

stages::SyntheticRow synthetic_row(uint64_t index, const std::string& file) {
  stages::SyntheticRow row;
  row.file = file;
  row.prompt = "high tumor; low til";
  row.prompt_id = prompt_id_for("high");
  row.seed = 7;
  row.index = index;
  row.fields["tumor"] = "high";
  row.fields["til"] = "low";
  row.model_ids = {{"unet", "u1"}, {"first_stage", "f1"}, {"cond_stage", "c1"}};
  row.sampler = {{"name", "ddim"}, {"steps", 4}, {"eta", 0.0}, {"guidance", 1.5}};
  return row;
}

TEST_F(ExportTest, SyntheticRowsAreWrittenInTheFormatsOrderAndReadBackAsWritten) {
  const stages::SyntheticSet set(dir_ / "syn");
  fs::create_directories(dir_ / "syn/images");
  const auto png = stages::SyntheticSet::image_file(3, "png"), jpg = stages::SyntheticSet::image_file(12, "jpeg");
  EXPECT_EQ(png, "images/000003.png");
  EXPECT_EQ(jpg, "images/000012.jpg");
  stages::save_png(stages::RgbImage(8, 8, 40), (dir_ / "syn" / png).string());
  tessera::write_file(dir_ / "syn" / jpg, tile_jpeg(90));
  const auto first = synthetic_row(3, png);
  EXPECT_EQ(stages::SyntheticSet::row_line(first),
            R"({"file":"images/000003.png","prompt":"high tumor; low til","prompt_id":")" + prompt_id_for("high") +
                R"(","seed":7,"index":3,"fields":{"tumor":"high","til":"low"},)"
                R"("model_ids":{"unet":"u1","first_stage":"f1","cond_stage":"c1"},)"
                R"("sampler":{"name":"ddim","steps":4,"eta":0.0,"guidance":1.5},"synthetic":true})");
  auto second = synthetic_row(12, jpg);
  second.fields = nlohmann::ordered_json::object();
  set.append_rows({first});
  set.append_rows({second});
  EXPECT_EQ(tessera::read_file(set.manifest_path()),
            stages::SyntheticSet::row_line(first) + "\n" + stages::SyntheticSet::row_line(second) + "\n");

  const auto images = set.read_rows();
  ASSERT_EQ(images.size(), 2u);
  for (size_t i = 0; i < images.size(); ++i) {
    const auto& written = i == 0 ? first : second;
    EXPECT_EQ(stages::SyntheticSet::row_line(images[i].row), stages::SyntheticSet::row_line(written));
    EXPECT_EQ(images[i].origin, set.manifest_path().string() + ":" + std::to_string(i + 1));
  }
  EXPECT_EQ(images[0].image, dir_ / "syn" / png);
  EXPECT_EQ(images[0].extension, "png");
  EXPECT_EQ(images[1].extension, "jpg");

  // An image whose bytes are not what its name says is named, with its line.
  tessera::write_file(dir_ / "syn" / jpg, "GIF89a");
  try {
    set.read_rows();
    FAIL() << "a .jpg that is not a JPEG was accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("manifest.jsonl:2: field \"file\""), std::string::npos) << e.what();
  }
}

TEST_F(ExportTest, AnUnfinishedLastRowIsDroppedAndNothingElse) {
  const stages::SyntheticSet set(dir_ / "syn");
  make_synthetic(dir_ / "syn", 2);
  EXPECT_FALSE(set.drop_unfinished_row()) << "a manifest of whole lines lost one";
  const std::string whole = tessera::read_file(set.manifest_path());
  std::ofstream(set.manifest_path(), std::ios::app | std::ios::binary) << R"({"file": "images/000002.png", "pro)";
  EXPECT_TRUE(set.drop_unfinished_row());
  EXPECT_EQ(tessera::read_file(set.manifest_path()), whole);
  EXPECT_EQ(set.read_rows().size(), 2u);
  EXPECT_FALSE(stages::SyntheticSet(dir_ / "absent").drop_unfinished_row());
}

TEST_F(ExportTest, ASyntheticSetKeepsItsSettingsAndNamesEveryDifference) {
  const stages::SyntheticSet set(dir_ / "gen");
  const json settings = {{"guidance", 1.5}, {"seed", 0}, {"steps", 4}};
  set.check_settings(settings);  // a folder that does not exist yet
  fs::create_directories(dir_ / "gen");
  set.write_settings(settings, 8, "/runs/a/step-00000001.safetensors", "2026-01-01T00:00:00Z");
  const auto file = json::parse(tessera::read_file(dir_ / "gen/generate.json"));
  EXPECT_EQ(file["format"], "tessera-generate/1");
  EXPECT_EQ(file["settings"], settings);
  EXPECT_EQ(file["n"], 8);
  EXPECT_EQ(file["checkpoint"], "/runs/a/step-00000001.safetensors");
  set.check_settings(settings);
  auto other = settings;
  other["guidance"] = 3.0;
  other["seed"] = 5;
  try {
    set.check_settings(other);
    FAIL() << "other settings were accepted";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("guidance 1.5 (now 3.0), seed 0 (now 5)"), std::string::npos) << e.what();
  }
  fs::create_directories(dir_ / "foreign");
  std::ofstream(dir_ / "foreign/notes.txt") << "mine";
  EXPECT_THROW(stages::SyntheticSet(dir_ / "foreign").check_settings(settings), Error);
}

// ---- Splits -----------------------------------------------------------------

TEST(ExportSplit, ValGroupCountIsExactAndDeterministic) {
  std::set<std::string> groups;
  for (int i = 0; i < 37; ++i) groups.insert("TCGA-AA-" + std::to_string(1000 + i));
  const auto val = choose_val_groups(groups, 0.1, 0);
  EXPECT_EQ(val.size(), 4u);  // round(3.7)
  EXPECT_EQ(choose_val_groups(groups, 0.1, 0), val);
  EXPECT_EQ(choose_val_groups(groups, 0.5, 3).size(), 19u);  // round(18.5) rounds half away from zero
  for (const auto& g : val) EXPECT_TRUE(groups.count(g));
  EXPECT_NE(choose_val_groups(groups, 0.3, 1), choose_val_groups(groups, 0.3, 2));

  const std::set<std::string> five = {"a", "b", "c", "d", "e"};
  EXPECT_EQ(choose_val_groups(five, 0.01, 0).size(), 1u) << "val > 0 takes at least one case";
  EXPECT_EQ(choose_val_groups(five, 0.99, 0).size(), 4u) << "train keeps at least one case";
  EXPECT_TRUE(choose_val_groups(five, 0.0, 0).empty());
  EXPECT_TRUE(choose_val_groups({"only"}, 0.5, 0).empty());
}

TEST(ExportSplit, PathComponentsCannotEscape) {
  EXPECT_EQ(stages::path_component("high"), "high");
  EXPECT_EQ(stages::path_component("../etc/passwd"), ".._etc_passwd");
  EXPECT_EQ(stages::path_component(".."), "_..");
  EXPECT_EQ(stages::path_component("."), "_.");
  EXPECT_EQ(stages::path_component(""), "_");
  EXPECT_EQ(stages::path_component("a\\b\nc"), "a_b_c");
}

TEST_F(ExportTest, CaseSplitKeepsEveryCaseOnOneSideWithTheExactCount) {
  // Ten cases of two or three slides each; slide ids of a case sort apart from each other.
  std::vector<TestSlide> slides;
  for (int c = 0; c < 10; ++c) {
    const std::string case_id = "TCGA-AA-000" + std::to_string(c);
    for (int s = 0; s < 2 + c % 2; ++s) {
      slides.push_back({case_id + "-01Z-00-DX" + std::to_string(s + 1), case_id, 2, ""});
    }
  }
  make_store(dir_ / "store", slides);
  make_synthetic(dir_ / "syn", 3);
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  o.val = 0.3;
  o.seed = 5;
  o.synthetic = {dir_ / "syn"};
  const auto summary = run_export(o);

  std::map<std::string, std::set<std::string>> case_splits;
  std::set<std::string> val_cases;
  for (const auto& s : webdataset_samples(dir_ / "out")) {
    if (s["source"] == "synthetic") {
      EXPECT_EQ(s["split"], "train") << "a synthetic sample went to val";
      continue;
    }
    case_splits[s["case_id"]].insert(s["split"]);
    if (s["split"] == "val") val_cases.insert(s["case_id"]);
  }
  ASSERT_EQ(case_splits.size(), 10u);
  for (const auto& [case_id, splits] : case_splits) EXPECT_EQ(splits.size(), 1u) << case_id << " is in both splits";
  EXPECT_EQ(val_cases.size(), 3u);

  const auto dataset = json::parse(tessera::read_file(dir_ / "out/dataset.json"));
  EXPECT_EQ(dataset["groups"]["by"], "case");
  EXPECT_EQ(dataset["groups"]["total"], 10);
  EXPECT_EQ(dataset["groups"]["val"].get<std::set<std::string>>(), val_cases);
  EXPECT_EQ(dataset["counts"]["split_source"]["val"]["synthetic"], 0);
  EXPECT_EQ(dataset["counts"]["source"]["synthetic"], 3);
  EXPECT_EQ(summary.splits.at("val") + summary.splits.at("train"), summary.real + summary.synthetic);

  // The same seed gives the same split.
  o.overwrite = true;
  run_export(o);
  EXPECT_EQ(json::parse(tessera::read_file(dir_ / "out/dataset.json"))["groups"]["val"].get<std::set<std::string>>(),
            val_cases);
}

TEST_F(ExportTest, SlideSplitAndSlidesWithoutACaseUseTheirIds) {
  std::vector<TestSlide> slides;
  for (int i = 0; i < 8; ++i) slides.push_back({"slide-" + std::to_string(i), "", 1, ""});
  make_store(dir_ / "store", slides);
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  o.val = 0.25;
  o.split_by = ExportOptions::SplitBy::kSlide;
  const auto summary = run_export(o);
  EXPECT_EQ(summary.splits.at("val"), 2u);
  EXPECT_EQ(summary.splits.at("train"), 6u);
  for (const auto& s : webdataset_samples(dir_ / "out")) EXPECT_EQ(s["case_id"], s["slide_id"]);

  o.split_by = ExportOptions::SplitBy::kNone;
  o.overwrite = true;
  EXPECT_EQ(run_export(o).splits.at("val"), 0u);
}

// ---- WebDataset -----------------------------------------------------------------

TEST_F(ExportTest, WebDatasetMembersComeInTheFixedOrderWithTheStoredBytes) {
  // Written out of id order; the export sorts them.
  make_store(dir_ / "store", {{"TCGA-BB-0002-01Z-00-DX1", "TCGA-BB-0002", 3, "low"},
                              {"TCGA-AA-0001-01Z-00-DX1", "TCGA-AA-0001", 3, "high"}});
  make_synthetic(dir_ / "syn", 2);
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  o.val = 0;
  o.label = "tumor";
  o.synthetic = {dir_ / "syn"};
  const auto summary = run_export(o);
  ASSERT_EQ(summary.shards.size(), 1u);
  EXPECT_EQ(summary.shards[0].file, "train-000000.tar");
  const auto members = read_tar(dir_ / "out/train-000000.tar");

  std::vector<std::string> expected;
  for (const std::string slide : {"TCGA-AA-0001-01Z-00-DX1", "TCGA-BB-0002-01Z-00-DX1"}) {
    for (const std::string cell : {"_r0_c0", "_r0_c1", "_r1_c0"}) {
      for (const std::string ext : {".jpg", ".txt", ".json"}) expected.push_back(slide + cell + ext);
    }
  }
  for (const std::string key : {"syn0_0", "syn0_1"}) {
    for (const std::string ext : {".png", ".txt", ".json"}) expected.push_back(key + ext);
  }
  ASSERT_EQ(members.size(), expected.size());
  for (size_t i = 0; i < members.size(); ++i) EXPECT_EQ(members[i].name, expected[i]) << i;

  store::StoreOptions ro;
  ro.read_only = true;
  const auto store = store::Store::open(dir_ / "store", ro);
  const auto pixels = store->tile_pixels("TCGA-AA-0001-01Z-00-DX1", 1, 0);
  ASSERT_TRUE(pixels);
  EXPECT_EQ(members[6].data, *pixels) << "the stored JPEG must be written unchanged";
  EXPECT_EQ(members[7].data, "high tumor; invasive ductal carcinoma");
  const auto meta = json::parse(members[8].data);
  EXPECT_EQ(meta["source"], "real");
  EXPECT_EQ(meta["slide_id"], "TCGA-AA-0001-01Z-00-DX1");
  EXPECT_EQ(meta["case_id"], "TCGA-AA-0001");
  EXPECT_EQ(meta["row"], 1);
  EXPECT_EQ(meta["col"], 0);
  EXPECT_EQ(meta["y"], 16);
  EXPECT_EQ(meta["label"], "high");
  EXPECT_EQ(meta["prompt_id"], prompt_id_for("high"));
  EXPECT_EQ(meta["split"], "train");
  EXPECT_EQ(json::parse(members[17].data)["label"], "low");

  const auto& png = members[18];
  EXPECT_EQ(png.data, tessera::read_file(dir_ / "syn/images/000000.png"));
  EXPECT_EQ(members[19].data, "high tumor; low til; generated 0");
  const auto syn = json::parse(members[20].data);
  EXPECT_EQ(syn["source"], "synthetic");
  EXPECT_EQ(syn["seed"], 7);
  EXPECT_EQ(syn["model_ids"]["unet"], "u1");
  EXPECT_EQ(syn["sampler"]["steps"], 50);
  EXPECT_EQ(syn["label"], "high");
  EXPECT_TRUE(syn["slide_id"].is_null());
  EXPECT_EQ(json::parse(members[23].data)["label"], "low");

  if (have("tar")) {
    EXPECT_EQ(command_output("tar -tf '" + (dir_ / "out/train-000000.tar").string() + "'"), joined_names(members));
  }
  const auto dataset = json::parse(tessera::read_file(dir_ / "out/dataset.json"));
  EXPECT_EQ(dataset["shards"][0]["bytes"], fs::file_size(dir_ / "out/train-000000.tar"));
  o.out = dir_ / "again";
  run_export(o);
  EXPECT_EQ(tessera::read_file(dir_ / "again/train-000000.tar"), tessera::read_file(dir_ / "out/train-000000.tar"))
      << "not reproducible";
  EXPECT_EQ(dataset["shards"][0]["samples"], 8);
  EXPECT_EQ(dataset["counts"]["label"], json({{"high", 4}, {"low", 4}}));
}

TEST_F(ExportTest, ShardsRollOverBeforeTheLimitAndNeverSplitASample) {
  make_store(dir_ / "store", {{"A-slide", "", 9, "high"}, {"B-slide", "", 8, ""}});
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  o.val = 0;
  o.shard_bytes = 8 * 1024;  // a sample is about 3 KiB: two per shard
  const auto summary = run_export(o);
  const auto shards = shard_files(dir_ / "out");
  ASSERT_GE(shards.size(), 4u);
  ASSERT_EQ(summary.shards.size(), shards.size());
  uint64_t samples = 0;
  for (size_t i = 0; i < shards.size(); ++i) {
    EXPECT_EQ(shards[i].filename().string(), summary.shards[i].file);
    char expected[32];
    std::snprintf(expected, sizeof expected, "train-%06zu.tar", i);
    EXPECT_EQ(shards[i].filename().string(), expected);
    EXPECT_LE(fs::file_size(shards[i]), o.shard_bytes);
    EXPECT_EQ(fs::file_size(shards[i]), summary.shards[i].bytes);
    const auto members = read_tar(shards[i]);
    ASSERT_EQ(members.size() % 3, 0u) << shards[i];
    EXPECT_EQ(members.size() / 3, summary.shards[i].samples);
    for (size_t m = 0; m < members.size(); m += 3) {
      const auto key = members[m].name.substr(0, members[m].name.find('.'));
      EXPECT_EQ(members[m + 1].name, key + ".txt");
      EXPECT_EQ(members[m + 2].name, key + ".json");
    }
    samples += members.size() / 3;
  }
  EXPECT_EQ(samples, 17u);

  // A sample larger than the limit gets a shard of its own.
  o.shard_bytes = 1000;
  o.overwrite = true;
  const auto tiny = run_export(o);
  EXPECT_EQ(tiny.shards.size(), 17u);
  EXPECT_FALSE(fs::exists(dir_ / "out/train-000017.tar"));
}

// ---- ImageFolder ------------------------------------------------------------------

TEST_F(ExportTest, ImageFolderLayoutByLabelMatchesTheCounts) {
  make_store(
      dir_ / "store",
      {{"s1", "case-1", 3, "high"}, {"s2", "case-2", 2, "low"}, {"s3", "case-3", 2, ""}, {"s4", "case-4", 1, "high"}});
  make_synthetic(dir_ / "syn", 3);
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kImageFolder);
  o.val = 0.25;
  o.label = "tumor";
  o.synthetic = {dir_ / "syn"};
  run_export(o);

  std::map<std::string, uint64_t> per_split, per_label;
  uint64_t real = 0, synthetic = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir_ / "out")) {
    if (!e.is_regular_file()) continue;
    const auto relative = fs::relative(e.path(), dir_ / "out");
    const auto ext = e.path().extension().string();
    if (ext != ".jpg" && ext != ".png") continue;
    const std::vector<std::string> parts(relative.begin(), relative.end());
    ASSERT_EQ(parts.size(), 3u) << relative;
    ++per_split[parts[0]];
    ++per_label[parts[1]];
    (ext == ".png" ? synthetic : real) += 1;
    if (ext == ".png") {
      EXPECT_EQ(parts[0], "train") << relative;
    }
  }
  EXPECT_EQ(real, 8u);
  EXPECT_EQ(synthetic, 3u);
  EXPECT_TRUE(fs::exists(dir_ / "out/train/low/syn0_1.png"));
  EXPECT_TRUE(fs::exists(dir_ / "out/train/high/syn0_2.png"));
  EXPECT_EQ(per_label["unlabeled"], 2u);
  EXPECT_EQ(per_label["high"], 4u + 2u);
  const auto dataset = json::parse(tessera::read_file(dir_ / "out/dataset.json"));
  ASSERT_EQ(dataset["groups"]["val"].size(), 1u);  // round(0.25 * 4) cases
  const std::map<std::string, uint64_t> case_tiles = {{"case-1", 3}, {"case-2", 2}, {"case-3", 2}, {"case-4", 1}};
  EXPECT_EQ(per_split["val"], case_tiles.at(dataset["groups"]["val"][0].get<std::string>()));
  EXPECT_EQ(dataset["counts"]["source"]["real"], real);
  EXPECT_EQ(dataset["counts"]["source"]["synthetic"], synthetic);
  EXPECT_EQ(dataset["counts"]["samples"], real + synthetic);
  EXPECT_EQ(dataset["counts"]["split"]["train"], per_split["train"]);
  EXPECT_EQ(dataset["counts"]["split"]["val"], per_split["val"]);
  for (const auto& [label, n] : per_label) EXPECT_EQ(dataset["counts"]["label"][label], n) << label;
  EXPECT_EQ(dataset["format"], "imagefolder");
  EXPECT_TRUE(dataset["shards"].empty());

  // metadata.jsonl pairs each file with its prompt.
  std::ifstream metadata(dir_ / "out/train/metadata.jsonl");
  std::string line;
  uint64_t lines = 0;
  while (std::getline(metadata, line)) {
    const auto j = json::parse(line);
    EXPECT_TRUE(fs::exists(dir_ / "out/train" / j["file_name"].get<std::string>())) << line;
    ++lines;
  }
  EXPECT_EQ(lines, per_split["train"]);
}

TEST_F(ExportTest, ImageFolderWithoutALabelUsesOneFolder) {
  make_store(dir_ / "store", {{"s1", "", 2, "high"}});
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kImageFolder);
  run_export(o);
  EXPECT_TRUE(fs::exists(dir_ / "out/train/all/s1_r0_c0.jpg"));
  EXPECT_TRUE(fs::exists(dir_ / "out/train/all/s1_r0_c1.jpg"));
  EXPECT_FALSE(fs::exists(dir_ / "out/val"));
}

// ---- Refusals ---------------------------------------------------------------------

TEST_F(ExportTest, BadManifestLineIsNamedAndNothingIsWritten) {
  make_store(dir_ / "store", {{"s1", "", 1, ""}});
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  const std::string bad = R"({"file": "images/000000.png", "prompt": "x", "seed": 1, "index": 9, "fields": {},)"
                          R"( "model_ids": {}, "sampler": {}})";
  o.synthetic = {make_synthetic(dir_ / "syn", 2, bad)};
  try {
    run_export(o);
    FAIL() << "a manifest line without prompt_id was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("manifest.jsonl:3"), std::string::npos) << what;
    EXPECT_NE(what.find("prompt_id"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out"));

  o.synthetic = {make_synthetic(dir_ / "syn2", 1, "{not json")};
  EXPECT_THROW(run_export(o), Error);

  make_synthetic(dir_ / "syn3", 2);
  fs::remove(dir_ / "syn3/images/000001.png");
  o.synthetic = {dir_ / "syn3"};
  try {
    run_export(o);
    FAIL() << "a missing image was accepted";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("manifest.jsonl:2"), std::string::npos) << what;
    EXPECT_NE(what.find("000001.png"), std::string::npos) << what;
  }
  EXPECT_FALSE(fs::exists(dir_ / "out"));
}

TEST_F(ExportTest, RefusesANonEmptyOutputAndOverwriteReplacesOnlyAnExport) {
  make_store(dir_ / "store", {{"s1", "", 2, ""}});
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kWebDataset);
  fs::create_directories(dir_ / "out");
  std::ofstream(dir_ / "out/notes.txt") << "mine";
  EXPECT_THROW(run_export(o), Error);
  o.overwrite = true;
  EXPECT_THROW(run_export(o), Error) << "--overwrite must not delete files an export did not write";
  EXPECT_EQ(tessera::read_file(dir_ / "out/notes.txt"), "mine");
  EXPECT_FALSE(fs::exists(dir_ / "out/dataset.json"));

  fs::remove(dir_ / "out/notes.txt");
  o.overwrite = false;
  run_export(o);
  EXPECT_THROW(run_export(o), Error);
  o.overwrite = true;
  run_export(o);
  EXPECT_EQ(shard_files(dir_ / "out").size(), 1u);
}

// Every path under `out`, relative, its bookkeeping (lock and list of what the export wrote) aside.
std::set<std::string> exported_paths(const fs::path& out) {
  std::set<std::string> paths;
  for (const auto& e : fs::recursive_directory_iterator(out)) {
    const std::string relative = e.path().lexically_relative(out).generic_string();
    if (relative != FolderLock::kFileName && relative != stages::OwnedFiles::kFileName) paths.insert(relative);
  }
  return paths;
}

const char* format_name(ExportOptions::Format format) {
  return format == ExportOptions::Format::kWebDataset ? "webdataset" : "imagefolder";
}

TEST_F(ExportTest, OverwriteRefusesWhatNoExportListedAndDeletesNothing) {
  make_store(dir_ / "store", {{"s1", "c1", 3, "high"}, {"s2", "c2", 3, "low"}});
  for (const auto format : {ExportOptions::Format::kWebDataset, ExportOptions::Format::kImageFolder}) {
    SCOPED_TRACE(format_name(format));
    // The issue's folder: a user's dataset, never exported.
    const fs::path ds = dir_ / (std::string("ds-") + format_name(format));
    fs::create_directories(ds / "train/cat");
    fs::create_directories(ds / "val/dog");
    std::ofstream(ds / "train/cat/1.jpg") << "x";
    std::ofstream(ds / "val/dog/2.jpg") << "x";
    const auto refused = run_tessera({"export", "--store", (dir_ / "store").string(), "--out", ds.string(), "--format",
                                      format_name(format), "--overwrite"});
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_NE(refused.output.find(ds.string() + " holds train, which no earlier export listed"), std::string::npos)
        << refused.output;
    EXPECT_EQ(exported_paths(ds),
              (std::set<std::string>{"train", "train/cat", "train/cat/1.jpg", "val", "val/dog", "val/dog/2.jpg"}));
    EXPECT_EQ(tessera::read_file(ds / "train/cat/1.jpg"), "x");

    // A file put into an earlier export is refused by name, and the export stays whole.
    auto o = options_for(dir_ / "store", dir_ / (std::string("out-") + format_name(format)), format);
    o.val = 0.5;
    run_export(o);
    const auto written = exported_paths(o.out);
    const std::string mine = format == ExportOptions::Format::kWebDataset ? "train-000099.tar" : "train/all/mine.jpg";
    std::ofstream(o.out / mine) << "mine";
    o.overwrite = true;
    try {
      run_export(o);
      ADD_FAILURE() << "--overwrite took " << mine;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(" holds " + mine + ", which no earlier export listed"), std::string::npos)
          << e.what();
    }
    EXPECT_EQ(tessera::read_file(o.out / mine), "mine");
    fs::remove(o.out / mine);
    EXPECT_EQ(exported_paths(o.out), written);
    // Without it, --overwrite replaces the export with the same files.
    run_export(o);
    EXPECT_EQ(exported_paths(o.out), written);
  }
}

TEST_F(ExportTest, AKilledExportIsReplacedWholeByOverwrite) {
  make_store(dir_ / "store", {{"s1", "c1", 3, "high"}, {"s2", "c2", 3, "low"}});
  for (const auto format : {ExportOptions::Format::kWebDataset, ExportOptions::Format::kImageFolder}) {
    SCOPED_TRACE(format_name(format));
    auto clean = options_for(dir_ / "store", dir_ / (std::string("clean-") + format_name(format)), format);
    run_export(clean);
    const fs::path out = dir_ / (std::string("killed-") + format_name(format));
    const std::vector<std::string> args = {"export",     "--store",  (dir_ / "store").string(), "--out",
                                           out.string(), "--format", format_name(format)};
    const auto killed = run_tessera(args, {"TESSERA_CRASH_AT=export.sample_written:4"});
    ASSERT_EQ(killed.exit_code, 128 + SIGKILL) << killed.output;
    EXPECT_FALSE(fs::exists(out / "dataset.json"));
    EXPECT_FALSE(exported_paths(out).empty());
    auto with_overwrite = args;
    with_overwrite.push_back("--overwrite");
    const auto again = run_tessera(with_overwrite);
    ASSERT_EQ(again.exit_code, 0) << again.output;
    EXPECT_EQ(exported_paths(out), exported_paths(clean.out));
  }
}

TEST_F(ExportTest, ASecondExportIntoAFolderInUseIsRefused) {
  make_store(dir_ / "store", {{"s1", "c1", 2, ""}});
  const fs::path out = dir_ / "out";
  const FolderLock first(out);
  const auto second =
      run_tessera({"export", "--store", (dir_ / "store").string(), "--out", out.string(), "--format", "webdataset"});
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find(out.string() + " is in use by another tessera process"), std::string::npos)
      << second.output;
  EXPECT_TRUE(exported_paths(out).empty());
}

TEST_F(ExportTest, AnImageFolderWriteThatFailsLeavesNoPartOfTheImage) {
  const fs::path out = dir_ / "out";
  fs::create_directories(out);
  stages::DatasetSample sample;
  sample.name = "big";
  sample.extension = "jpg";
  sample.image = std::string(size_t(1) << 16, 'j');
  sample.label = "all";
  sample.split = "train";
  // A full disk, as a file size limit: the write stops part way.
  const auto error = testing::error_on_a_full_disk(
      [&] {
        stages::OwnedFiles owned(out);
        stages::ImageFolderWriter writer(out, owned);
        writer.write(sample);
      },
      4096);
  ASSERT_TRUE(error) << "the write did not fail";
  EXPECT_NE(error->find("big.jpg"), std::string::npos) << *error;
  EXPECT_FALSE(fs::exists(out / "train/all/big.jpg")) << "a part of the image under its final name";
  EXPECT_FALSE(fs::exists(out / "train/all/big.jpg.partial"));
}

TEST_F(ExportTest, ASyntheticImageThatIsALinkOrLeadsOutsideItsSetIsRefused) {
  const fs::path outside = dir_ / "outside";
  fs::create_directories(outside);
  stages::save_png(stages::RgbImage(8, 8, 1), (outside / "secret.png").string());

  const fs::path linked = make_synthetic(dir_ / "linked", 2);
  fs::remove(linked / "images/000001.png");
  fs::create_symlink(outside / "secret.png", linked / "images/000001.png");
  try {
    stages::SyntheticSet(linked).read_rows();
    ADD_FAILURE() << "an image that is a symbolic link was followed";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("manifest.jsonl:2: field \"file\" names a symbolic link"), std::string::npos) << what;
  }

  const fs::path through = make_synthetic(dir_ / "through", 1);
  fs::copy_file(through / "images/000000.png", outside / "000000.png");
  fs::remove_all(through / "images");
  fs::create_symlink(outside, through / "images");
  try {
    stages::SyntheticSet(through).read_rows();
    ADD_FAILURE() << "an image behind a folder link outside the set was read";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find("manifest.jsonl:1: field \"file\" names an image outside"), std::string::npos) << what;
  }
}

TEST(ExportNames, LongComponentsAreCutToTheLimitWithAStableHash) {
  const std::string long_name(300, 'a');
  const std::string cut = stages::path_component(long_name, 12);
  EXPECT_EQ(cut.size() + 12, stages::kPathComponentBytes);
  EXPECT_EQ(cut.substr(0, 10), "aaaaaaaaaa");
  EXPECT_EQ(cut[cut.size() - 17], '~');
  EXPECT_EQ(cut, stages::path_component(long_name, 12)) << "the same name, the same cut";
  EXPECT_NE(cut, stages::path_component(long_name + "b", 12)) << "names that differ past the cut stay distinct";
  EXPECT_EQ(stages::path_component(std::string(200, 'a'), 12), std::string(200, 'a'));
  // Whole UTF-8 characters: "é" is two bytes, and one reserved byte leaves an odd room.
  std::string accents;
  for (int i = 0; i < 200; ++i) accents += "\xC3\xA9";
  const std::string accents_cut = stages::path_component(accents, 1);
  EXPECT_LE(accents_cut.size() + 1, stages::kPathComponentBytes);
  EXPECT_EQ(accents_cut.substr(0, accents_cut.size() - 17), accents.substr(0, accents_cut.size() - 17));
  EXPECT_EQ((accents_cut.size() - 17) % 2, 0u) << "a character was cut in half";
}

TEST_F(ExportTest, ASlideWithA251CharacterNameIsExportedAsAnImageFolder) {
  const std::string slide(251, 's');
  make_store(dir_ / "store", {{slide, "", 2, ""}});
  auto o = options_for(dir_ / "store", dir_ / "out", ExportOptions::Format::kImageFolder);
  o.label = "slide";
  run_export(o);
  std::ifstream metadata(dir_ / "out/train/metadata.jsonl");
  size_t images = 0;
  for (std::string line; std::getline(metadata, line); ++images) {
    const fs::path file = json::parse(line)["file_name"].get<std::string>();
    EXPECT_TRUE(fs::is_regular_file(dir_ / "out/train" / file)) << file;
    EXPECT_EQ(file.parent_path(), slide) << "a 251-byte label folder fits as it is";
    EXPECT_LE(file.filename().string().size() + tessera::kPartialSuffix.size(), stages::kPathComponentBytes);
    EXPECT_EQ(file.filename().string().substr(0, 200), slide.substr(0, 200));
  }
  EXPECT_EQ(images, 2u);
}

// ---- The command, on a store made by ingest ----------------------------------------

TEST_F(ExportTest, CommandExportsAnIngestedSlide) {
  const auto slide = testing::make_slide(dir_.path(), "TCGA-AA-0001-01Z-00-DX1.tiff", testing::small_spec());
  const auto ingest = run_ingest(testing::quiet_ingest(dir_ / "store", {slide.string()}));
  ASSERT_EQ(ingest.complete, 1u);
  const auto out = (dir_ / "out").string();
  const auto r = run_tessera({"export", "--store", (dir_ / "store").string(), "--out", out, "--format", "webdataset",
                              "--label", "slide", "--progress", "lines", "--json"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto dataset = testing::json_of(r);
  EXPECT_EQ(dataset, json::parse(tessera::read_file(dir_ / "out/dataset.json")));
  EXPECT_EQ(dataset["counts"]["samples"], ingest.tiles_kept);
  EXPECT_EQ(dataset["counts"]["label"]["TCGA-AA-0001-01Z-00-DX1"], ingest.tiles_kept);
  EXPECT_EQ(webdataset_samples(dir_ / "out").size(), ingest.tiles_kept);

  const auto again =
      run_tessera({"export", "--store", (dir_ / "store").string(), "--out", out, "--format", "imagefolder"});
  EXPECT_EQ(again.exit_code, 1) << again.output;
  EXPECT_NE(again.output.find("--overwrite"), std::string::npos) << again.output;
  const auto bad_val = run_tessera(
      {"export", "--store", (dir_ / "store").string(), "--out", out, "--format", "imagefolder", "--val", "1.5"});
  EXPECT_EQ(bad_val.exit_code, 2) << bad_val.output;
}

}  // namespace
}  // namespace tessera::pipeline
