// Ingest with reports and tile attributes: prompts are stored once, every kept
// tile refers to one, and info/report show them. The tests on CMU-1 need
// ../shared and skip without it; the rest learn their vocabulary here.
#include <gtest/gtest.h>

#include <fstream>
#include <map>
#include <nlohmann/json.hpp>

#include "base/file_io.h"
#include "pipeline/ingest.h"
#include "runtime/vocabulary.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::run_tessera;

// 256-px patches at 0.499 µm/px over CMU-1-Small-Region's 2220 x 2967 level 0:
// tumour high in the left half, TIL exactly 1.0 in the top rows (the top bin
// must include it) and absent from the bottom rows.
fs::path write_cmu_attributes(const fs::path& dir) {
  const fs::path path = dir / "attributes.csv";
  std::ofstream out(path);
  out << "slide,x,y,w,h,mpp,tumor,til\n";
  for (int y = 0; y + 256 <= 2967; y += 256) {
    for (int x = 0; x + 256 <= 2220; x += 256) {
      out << "CMU-1-Small-Region," << x << ',' << y << ",256,256,0.499," << (x < 1110 ? 0.95 : 0.1) << ',';
      if (y < 1024)
        out << "1.0";
      else if (y < 2048)
        out << "0.4";
      out << '\n';
    }
  }
  return path;
}

TEST(IngestPrompts, CmuWithAReportAndTileAttributes) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  testing::TempDir dir;
  const auto vocab = (data / "clip/bpe_simple_vocab_16e6.txt.gz").string();
  const auto reports = (data / "reports/tcga_brca_reports.csv").string();
  std::ofstream(dir / "map.csv") << "slide,case\nCMU-1-Small-Region,TCGA-AR-A0TP\n";
  const auto attributes = write_cmu_attributes(dir.path());

  const auto r =
      run_tessera({"ingest", "--store", (dir / "s").string(), "--slides",
                   (data / "slides/CMU-1-Small-Region.svs").string(), "--reports", reports, "--case-map",
                   (dir / "map.csv").string(), "--tile-attributes", attributes.string(), "--clip-vocab", vocab});
  ASSERT_EQ(r.exit_code, 0) << r.output;

  const auto info = run_tessera({"info", "--store", (dir / "s").string(), "--json"});
  ASSERT_EQ(info.exit_code, 0) << info.output;
  const auto j = nlohmann::json::parse(info.output);
  const auto& slide = j["slides"][0];
  EXPECT_EQ(slide["case_id"], "TCGA-AR-A0TP");
  EXPECT_NE(slide["report_origin"].get<std::string>().find("tcga_brca_reports.csv:2"), std::string::npos);
  const auto& prompts = j["prompts"];
  ASSERT_GE(prompts.size(), 2u);
  EXPECT_EQ(slide["prompts"], prompts.size());
  std::set<std::string> texts;
  for (const auto& p : prompts) {
    const std::string text = p["text"];
    texts.insert(text);
    EXPECT_LE(p["tokens"].get<size_t>(), 35u) << text;
    EXPECT_EQ(p["token_ids"].size(), p["tokens"].get<size_t>());
    EXPECT_EQ(p["token_ids"][0], 49406);
    EXPECT_EQ(p["token_ids"].back(), 49407);
    ASSERT_EQ(p["sources"].size(), 1u);
    EXPECT_EQ(p["sources"][0]["case_id"], "TCGA-AR-A0TP");
    EXPECT_EQ(p["template"], "pathldm");
    // The report: infiltrating ductal carcinoma, Nottingham grade III, AJCC pT2.
    EXPECT_NE(text.find("invasive ductal carcinoma"), std::string::npos) << text;
  }
  // Left tiles are high-tumour; top tiles have TIL 1.0, which must bin as high.
  EXPECT_TRUE(std::any_of(texts.begin(), texts.end(),
                          [](const std::string& t) { return t.rfind("high tumor; high til; ", 0) == 0; }));
  // Bottom tiles have no TIL value: their til segment is dropped.
  EXPECT_TRUE(std::any_of(texts.begin(), texts.end(),
                          [](const std::string& t) { return t.find(" til;") == std::string::npos; }));

  // Every kept tile refers to a stored prompt.
  store::StoreOptions ro;
  ro.read_only = true;
  auto store = store::Store::open(dir / "s", ro);
  size_t tiles = 0;
  store->for_each_tile("CMU-1-Small-Region", [&](const store::TileKey& k, const store::TileRecord& t) {
    ++tiles;
    ASSERT_FALSE(t.prompt_id.empty());
    const auto prompt = store->prompt(t.prompt_id);
    ASSERT_TRUE(prompt);
    ASSERT_EQ(prompt->sources.size(), 1u);
    EXPECT_FALSE(prompt->sources[0].fields.empty());
    EXPECT_EQ(prompt->tumor, k.col * 256 < 1110 ? "high" : "low");
  });
  EXPECT_EQ(tiles, slide["tiles_kept"].get<size_t>());

  const auto report =
      run_tessera({"report", "--reports", reports, "--case", "TCGA-AR-A0TP", "--clip-vocab", vocab, "--json"});
  ASSERT_EQ(report.exit_code, 0) << report.output;
  const auto rj = nlohmann::json::parse(report.output);
  ASSERT_EQ(rj.size(), 1u);
  EXPECT_LE(rj[0]["tokens"].get<size_t>(), 35u);
  bool has_pt = false;
  for (const auto& f : rj[0]["fields"]) {
    if (f["name"] == "pt") {
      has_pt = true;
      EXPECT_EQ(f["value"], "T2");
      EXPECT_EQ(f["span"], "pT2");
    }
  }
  EXPECT_TRUE(has_pt);
}

TEST(IngestPrompts, SlideWithoutAReportGetsTheTileOnlyPromptAndIsCounted) {
  testing::TempDir dir;
  const auto vocab = testing::write_learned_vocabulary(dir / "vocab.txt.gz");
  const auto slide = testing::make_slide(dir.path(), "TCGA-ZZ-9999-01Z-00-DX1.tiff", testing::small_spec());
  std::ofstream(dir / "attributes.csv") << "slide,x,y,w,h,tumor\nTCGA-ZZ-9999-01Z-00-DX1,0,0,4096,4096,0.5\n";
  std::ofstream(dir / "reports.csv")
      << "case_submitter_id,text\nTCGA-ZZ-0001,\"Invasive ductal carcinoma, grade 3.\"\n";
  const auto r = run_tessera({"ingest", "--store", (dir / "s").string(), "--slides", slide.string(), "--reports",
                              (dir / "reports.csv").string(), "--tile-attributes", (dir / "attributes.csv").string(),
                              "--tile-attributes-mpp", "0.5", "--clip-vocab", vocab.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("1 slides matched no report"), std::string::npos) << r.output;
  const auto j = nlohmann::json::parse(run_tessera({"info", "--store", (dir / "s").string(), "--json"}).output);
  ASSERT_EQ(j["prompts"].size(), 1u);
  EXPECT_EQ(j["prompts"][0]["text"], "medium tumor");
  EXPECT_EQ(j["prompts"][0]["sources"][0]["summary_source"], "none");
  EXPECT_EQ(j["slides"][0]["case_id"], "TCGA-ZZ-9999");
  EXPECT_EQ(j["slides"][0]["report_origin"], "");
}

TEST(IngestPrompts, AttributesOffTheSlideFailItNamingTheLine) {
  testing::TempDir dir;
  const auto vocab = testing::write_learned_vocabulary(dir / "vocab.txt.gz");
  const auto slide = testing::make_slide(dir.path(), "TCGA-ZZ-9999-01Z-00-DX1.tiff", testing::small_spec());
  // Coordinates at 0.25 µm/px given as 0.5: the second patch is past the slide's 2048 x 1536 px.
  std::ofstream(dir / "attributes.csv") << "slide,x,y,w,h,tumor\nTCGA-ZZ-9999-01Z-00-DX1,0,0,224,224,0.5\n"
                                        << "TCGA-ZZ-9999-01Z-00-DX1,3000,2000,224,224,0.5\n";
  const auto r =
      run_tessera({"ingest", "--store", (dir / "s").string(), "--slides", slide.string(), "--tile-attributes",
                   (dir / "attributes.csv").string(), "--tile-attributes-mpp", "0.5", "--clip-vocab", vocab.string()});
  EXPECT_EQ(r.exit_code, 3) << r.output;
  EXPECT_NE(r.output.find((dir / "attributes.csv").string() +
                          ":3: the patch at (3000, 2000) of 224 x 224 px lies off slide TCGA-ZZ-9999-01Z-00-DX1, "
                          "which is 2048 x 1536 px at the table's 0.5 um/px"),
            std::string::npos)
      << r.output;
}

TEST(IngestPrompts, TwoCasesWithTheSameTextKeepTheirOwnProvenance) {
  testing::TempDir dir;
  const auto vocab = testing::write_learned_vocabulary(dir / "vocab.txt.gz");
  auto spec = testing::small_spec();
  const auto a = testing::make_slide(dir / "slides", "TCGA-ZZ-0001-01Z-00-DX1.tiff", spec);
  spec.seed = 5;
  const auto b = testing::make_slide(dir / "slides", "TCGA-ZZ-0002-01Z-00-DX1.tiff", spec);
  // Different reports, one budgeted prompt: the budget of 6 keeps only the type.
  std::ofstream(dir / "reports.csv")
      << "case_submitter_id,text\n"
         "TCGA-ZZ-0001,\"Invasive ductal carcinoma, grade 3. ypT2.\"\n"
         "TCGA-ZZ-0002,\"Final: infiltrating ductal carcinoma; Nottingham grade 1; pT1c\"\n";
  const auto r =
      run_tessera({"ingest", "--store", (dir / "s").string(), "--slides", (dir / "slides").string(), "--reports",
                   (dir / "reports.csv").string(), "--token-budget", "6", "--clip-vocab", vocab.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  store::StoreOptions ro;
  ro.read_only = true;
  const auto prompts = store::Store::open(dir / "s", ro)->prompts();
  ASSERT_EQ(prompts.size(), 1u);
  EXPECT_EQ(prompts[0].text, "invasive ductal carcinoma");
  ASSERT_EQ(prompts[0].sources.size(), 2u);
  EXPECT_EQ(prompts[0].sources[0].case_id, "TCGA-ZZ-0001");
  EXPECT_EQ(prompts[0].sources[1].case_id, "TCGA-ZZ-0002");
  EXPECT_EQ(prompts[0].sources[0].report_origin, (dir / "reports.csv").string() + ":2");
  EXPECT_EQ(prompts[0].sources[1].report_origin, (dir / "reports.csv").string() + ":3");
  const auto grade_of = [](const store::PromptSource& source) {
    for (const auto& f : source.fields) {
      if (f.name == "grade") return f.value;
    }
    return std::string();
  };
  EXPECT_EQ(grade_of(prompts[0].sources[0]), "3");
  EXPECT_EQ(grade_of(prompts[0].sources[1]), "1");
  // The stage after neoadjuvant treatment is stored as such.
  const auto post_treatment_pt = [](const store::PromptSource& source) {
    for (const auto& f : source.fields) {
      if (f.name == "pt") return f.value + (f.post_treatment ? " post-treatment" : "");
    }
    return std::string();
  };
  EXPECT_EQ(post_treatment_pt(prompts[0].sources[0]), "T2 post-treatment");
  EXPECT_EQ(post_treatment_pt(prompts[0].sources[1]), "T1c");
}

// `tessera report` previews what ingest stores: with the same reports, user
// summaries, template and budget it prints the stored prompt, text and ids.
TEST(IngestPrompts, ReportPrintsThePromptIngestStores) {
  testing::TempDir dir;
  auto spec = testing::small_spec();
  testing::make_slide(dir / "slides", "TCGA-ZZ-0001-01Z-00-DX1.tiff", spec);
  spec.seed = 5;
  testing::make_slide(dir / "slides", "TCGA-ZZ-0002-01Z-00-DX1.tiff", spec);
  std::ofstream(dir / "reports.csv") << "case_submitter_id,text\n"
                                        "TCGA-ZZ-0001,\"Invasive ductal carcinoma, grade 3. pT2.\"\n"
                                        "TCGA-ZZ-0002,\"Invasive lobular carcinoma, grade 2. pT1c.\"\n";
  // The first case's summary replaces its report's; its last clause is over
  // the budget of 12 tokens.
  std::ofstream(dir / "summaries.csv")
      << "case_submitter_id,summary\nTCGA-ZZ-0001,\"mucinous carcinoma; ER+ PR+; grade 1, with extensive necrosis\"\n";
  // Learned from these texts, the vocabulary makes every word one token.
  const auto vocab = testing::write_learned_vocabulary(
      dir / "vocab.txt.gz", {read_file(dir / "reports.csv"), read_file(dir / "summaries.csv")});
  const std::vector<std::string> prompt_flags = {"--reports",      (dir / "reports.csv").string(),
                                                 "--summaries",    (dir / "summaries.csv").string(),
                                                 "--token-budget", "12",
                                                 "--clip-vocab",   vocab.string()};
  auto ingest =
      std::vector<std::string>{"ingest", "--store", (dir / "s").string(), "--slides", (dir / "slides").string()};
  ingest.insert(ingest.end(), prompt_flags.begin(), prompt_flags.end());
  const auto ingested = run_tessera(ingest);
  ASSERT_EQ(ingested.exit_code, 0) << ingested.output;
  auto report = std::vector<std::string>{"report", "--json"};
  report.insert(report.end(), prompt_flags.begin(), prompt_flags.end());
  const auto previewed = run_tessera(report);
  ASSERT_EQ(previewed.exit_code, 0) << previewed.output;
  const auto previews = nlohmann::json::parse(previewed.output);
  const auto info = nlohmann::json::parse(run_tessera({"info", "--store", (dir / "s").string(), "--json"}).output);

  std::map<std::string, nlohmann::json> stored_by_case;
  for (const auto& p : info["prompts"]) {
    for (const auto& source : p["sources"]) stored_by_case[source["case_id"]] = p;
  }
  ASSERT_EQ(previews.size(), 2u);
  ASSERT_EQ(stored_by_case.size(), 2u);
  for (const auto& preview : previews) {
    const auto& stored = stored_by_case.at(preview["case_id"]);
    EXPECT_EQ(preview["prompt"], stored["text"]);
    EXPECT_EQ(preview["prompt_id"], stored["id"]);
    EXPECT_EQ(preview["token_ids"], stored["token_ids"]);
    EXPECT_EQ(preview["dropped"], stored["sources"][0]["dropped"]);
    EXPECT_EQ(preview["summary_source"], stored["sources"][0]["summary_source"]);
  }
  EXPECT_EQ(stored_by_case.at("TCGA-ZZ-0001")["text"], "mucinous carcinoma, ER+ PR+, grade 1");
  EXPECT_EQ(stored_by_case.at("TCGA-ZZ-0001")["sources"][0]["summary_source"], "user-summary");
  EXPECT_EQ(stored_by_case.at("TCGA-ZZ-0002")["sources"][0]["summary_source"], "report");
}

// learn-vocab learns a vocabulary in CLIP's format from the reports' prompts;
// a store records it, keeps the prompts of that one vocabulary, and refuses
// another, naming both, with nothing stored lost.
TEST(IngestPrompts, ALearnedVocabularyIsRecordedAndAStoreRefusesASecondOne) {
  testing::TempDir dir;
  auto spec = testing::small_spec();
  testing::make_slide(dir / "slides", "TCGA-ZZ-0001-01Z-00-DX1.tiff", spec);
  std::ofstream(dir / "reports.csv")
      << "case_submitter_id,text\n"
         "TCGA-ZZ-0001,\"Invasive lobular carcinoma, Nottingham grade 2. Tumor size 1.8 cm. pT1c pN0.\"\n"
         "TCGA-ZZ-0002,\"Invasive ductal carcinoma, grade 3. ER negative. pT2 pN1a.\"\n";
  const auto vocab = dir / "learned.txt.gz";
  const auto learned =
      run_tessera({"learn-vocab", "--reports", (dir / "reports.csv").string(), "--out", vocab.string(), "--json"});
  ASSERT_EQ(learned.exit_code, 0) << learned.output;
  const auto summary = testing::json_of(learned);
  const auto record = runtime::load_vocabulary(vocab.string()).record;
  EXPECT_EQ(summary["fingerprint"], record.fingerprint);
  EXPECT_EQ(summary["merges"], record.merges);
  EXPECT_GT(record.merges, 20u);
  EXPECT_FALSE(record.is_clip);
  EXPECT_EQ(record.start_token, int32_t(512 + record.merges));
  EXPECT_EQ(record.end_token, int32_t(513 + record.merges));
  EXPECT_EQ(summary["prompts"], 32);  // two cases, 4 x 4 pairs of bins
  EXPECT_EQ(summary["prompts_without_summary"], 0);
  // Every piece of every prompt is one token: no vocabulary does better.
  EXPECT_EQ(summary["longest_full_prompt_tokens"], summary["longest_full_prompt_pieces"]);
  EXPECT_FALSE(fs::exists(partial_path(vocab)));

  const std::vector<std::string> ingest = {"ingest",
                                           "--store",
                                           (dir / "s").string(),
                                           "--slides",
                                           (dir / "slides").string(),
                                           "--reports",
                                           (dir / "reports.csv").string(),
                                           "--progress",
                                           "quiet",
                                           "--no-qc"};
  auto with_learned = ingest;
  with_learned.insert(with_learned.end(), {"--clip-vocab", vocab.string()});
  const auto first = run_tessera(with_learned);
  ASSERT_EQ(first.exit_code, 0) << first.output;
  const auto info = nlohmann::json::parse(run_tessera({"info", "--store", (dir / "s").string(), "--json"}).output);
  EXPECT_EQ(info["vocabulary"]["fingerprint"], record.fingerprint);
  EXPECT_EQ(info["vocabulary"]["is_clip"], false);
  EXPECT_EQ(info["vocabulary"]["path"], vocab.string());
  ASSERT_EQ(info["prompts"].size(), 1u);
  EXPECT_EQ(info["prompts"][0]["text"], "invasive lobular carcinoma, grade 2, pT1c pN0, 1.8 cm");
  EXPECT_EQ(info["prompts"][0]["vocabulary"], record.fingerprint);
  // One token per word: "invasive lobular carcinoma , grade 2 , pt 1 c pn 0 , 1 . 8 cm" and start, end.
  EXPECT_EQ(info["prompts"][0]["tokens"], 19);

  // A second slide, with another vocabulary: refused before anything is written.
  spec.seed = 5;
  testing::make_slide(dir / "slides", "TCGA-ZZ-0002-01Z-00-DX1.tiff", spec);
  const auto other = testing::write_learned_vocabulary(dir / "other.txt.gz");
  const auto other_fingerprint = runtime::load_vocabulary(other.string()).record.fingerprint;
  auto with_other = ingest;
  with_other.insert(with_other.end(), {"--clip-vocab", other.string()});
  const auto second = run_tessera(with_other);
  EXPECT_EQ(second.exit_code, 1) << second.output;
  EXPECT_NE(second.output.find("holds prompts tokenised with a vocabulary of " + std::to_string(record.merges) +
                               " merges that is not CLIP's (fingerprint " + record.fingerprint),
            std::string::npos)
      << second.output;
  EXPECT_NE(second.output.find("(fingerprint " + other_fingerprint + ", from " + other.string() + ")"),
            std::string::npos)
      << second.output;
  const auto after = nlohmann::json::parse(run_tessera({"info", "--store", (dir / "s").string(), "--json"}).output);
  EXPECT_EQ(after["prompts"], info["prompts"]);
  EXPECT_EQ(after["vocabulary"], info["vocabulary"]);
  EXPECT_EQ(after["slides"].size(), 1u);

  // The store's own vocabulary ingests the new slide.
  ASSERT_EQ(run_tessera(with_learned).exit_code, 0);
  EXPECT_EQ(
      nlohmann::json::parse(run_tessera({"info", "--store", (dir / "s").string(), "--json"}).output)["prompts"].size(),
      2u);
}

TEST(IngestPrompts, MalformedReportsStopTheRunBeforeAnythingIsWritten) {
  testing::TempDir dir;
  const auto vocab = testing::write_learned_vocabulary(dir / "vocab.txt.gz");
  const auto slide = testing::make_slide(dir.path(), "TCGA-ZZ-9999-01Z-00-DX1.tiff", testing::small_spec());
  std::ofstream(dir / "bad.csv") << "case_submitter_id,text\nTCGA-ZZ-9999,\"unclosed\n";
  const auto r = run_tessera({"ingest", "--store", (dir / "s").string(), "--slides", slide.string(), "--reports",
                              (dir / "bad.csv").string(), "--clip-vocab", vocab.string()});
  EXPECT_EQ(r.exit_code, 1);
  EXPECT_NE(r.output.find("bad.csv:2:14: quoted field is never closed"), std::string::npos) << r.output;
  EXPECT_FALSE(fs::exists(dir / "s"));
}

}  // namespace
}  // namespace tessera
