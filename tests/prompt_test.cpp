// Report sources, case matching, field extraction, summaries, templates, the
// token budget, the composer and tile attributes: everything between a report
// and a prompt. The composer's tests need CLIP's vocabulary from
// ../shared/data/clip and skip without it.
#include <gtest/gtest.h>

#include <cctype>
#include <cmath>
#include <cstdlib>
#include <fstream>
#include <map>

#include "base/error.h"
#include "prompts/case_matching.h"
#include "prompts/clip_vocabulary.h"
#include "prompts/csv_table.h"
#include "prompts/probability_bin.h"
#include "prompts/prompt_composer.h"
#include "prompts/prompt_lines.h"
#include "prompts/prompt_options.h"
#include "prompts/prompt_template.h"
#include "prompts/report_fields.h"
#include "prompts/report_source.h"
#include "prompts/tile_attributes.h"
#include "prompts/user_summaries.h"
#include "test_data.h"
#include "text/bpe_learning.h"
#include "text/clip_tokenizer.h"

namespace tessera::stages {
namespace {
namespace fs = std::filesystem;

void write(const fs::path& path, const std::string& content) {
  fs::create_directories(path.parent_path());
  std::ofstream(path, std::ios::binary) << content;
}

// A stand-in tokenizer for budget logic: one token per word plus start and end.
size_t words_plus_two(std::string_view text) {
  size_t words = 0;
  bool in_word = false;
  for (const char c : text) {
    const bool space = c == ' ';
    words += !space && !in_word;
    in_word = !space;
  }
  return words + 2;
}

constexpr const char* kReport =
    "FINAL DIAGNOSIS: BREAST, LEFT, MASTECTOMY: INFILTRATING DUCTAL CARCINOMA, NOTTINGHAM GRADE II. "
    "TUMOR SIZE: 2.8 X 2.0 X 1.5 CM. LYMPHOVASCULAR INVASION: NOT IDENTIFIED. MARGINS: NEGATIVE. "
    "LYMPH NODES: METASTATIC CARCINOMA IN TWO OF FOURTEEN AXILLARY LYMPH NODES (2/14). "
    "ESTROGEN RECEPTOR: POSITIVE. PROGESTERONE RECEPTOR: NEGATIVE. HER2/NEU: 3+. (AJCC pT2 pN1a pMX).";

TEST(PromptLines, KeepsLinesVerbatimSkipsBlankOnesAndNamesBadUtf8) {
  testing::TempDir dir;
  const auto file = dir / "prompts.txt";
  std::ofstream(file, std::ios::binary) << "  high tumor \r\n\n \t\nnaïve cells\nlast";
  const auto lines = stages::read_prompt_lines(file.string());
  ASSERT_EQ(lines.size(), 3u);
  EXPECT_EQ(lines[0].line, 1u);
  EXPECT_EQ(lines[0].text, "  high tumor ");
  EXPECT_EQ(lines[1].line, 4u);
  EXPECT_EQ(lines[1].text, "naïve cells");
  EXPECT_EQ(lines[2].line, 5u);
  EXPECT_EQ(lines[2].text, "last");

  std::ofstream(file, std::ios::binary) << "fine\nna\xefve\n";
  try {
    stages::read_prompt_lines(file.string());
    ADD_FAILURE() << "accepted";
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), file.string() + ":2:3: invalid UTF-8 (the file must be UTF-8 encoded)");
  }
  EXPECT_THROW(stages::read_prompt_lines((dir / "absent.txt").string()), Error);
}

TEST(ReportFields, ExtractsEveryFieldWithItsSpan) {
  const std::string text = kReport;
  const auto fields = extract_report_fields(text);
  const auto expect = [&](const char* name, const char* value, const char* span_contains) {
    const auto f = find_field(fields, name);
    ASSERT_TRUE(f) << name;
    EXPECT_EQ(f->value, value) << name;
    EXPECT_NE(text.substr(f->begin, f->end - f->begin).find(span_contains), std::string::npos)
        << name << ": span is '" << text.substr(f->begin, f->end - f->begin) << "'";
  };
  expect("histologic_type", "invasive ductal carcinoma", "INFILTRATING DUCTAL CARCINOMA");
  expect("grade", "2", "NOTTINGHAM GRADE II");
  expect("tumor_size_cm", "2.8", "2.8 X 2.0 X 1.5 CM");
  expect("lvi", "absent", "NOT IDENTIFIED");
  expect("margins", "negative", "NEGATIVE");
  expect("nodes_positive", "2", "(2/14)");
  expect("nodes_examined", "14", "(2/14)");
  expect("er", "positive", "ESTROGEN RECEPTOR: POSITIVE");
  expect("pr", "negative", "PROGESTERONE RECEPTOR: NEGATIVE");
  expect("her2", "positive", "3+");
  expect("pt", "T2", "pT2");
  EXPECT_EQ(text.substr(find_field(fields, "pt")->begin, 3), "pT2");
  EXPECT_EQ(find_field(fields, "pt")->end - find_field(fields, "pt")->begin, 3u);
  expect("pn", "N1a", "pN1a");
  EXPECT_FALSE(find_field(fields, "pm"));  // pMX is "not assessed"
  EXPECT_FALSE(find_field(fields, "pt")->derived);
}

TEST(ReportFields, DerivesStageFromSizeAndNodesWhenNotStated) {
  const auto fields = extract_report_fields(
      "Invasive lobular carcinoma, 5.5 cm in greatest dimension. Lymph nodes: 4 of 12 positive for carcinoma.");
  EXPECT_EQ(find_field(fields, "histologic_type")->value, "invasive lobular carcinoma");
  const auto pt = find_field(fields, "pt"), pn = find_field(fields, "pn");
  ASSERT_TRUE(pt && pn);
  EXPECT_EQ(pt->value, "T3");  // > 5 cm
  EXPECT_TRUE(pt->derived);
  EXPECT_EQ(pn->value, "N2");  // 4-9 positive nodes
  EXPECT_TRUE(pn->derived);
}

// Size and node-count stages are AJCC's breast rules: a report of another
// organ gets no derived pT or pN (on the 888 other-cancer reports they were
// right for 62 of 199 pT and 83 of 127 pN), though its size and counts stay.
TEST(ReportFields, StagesAreDerivedOnlyForBreastReports) {
  const std::string thyroid =
      "Papillary thyroid carcinoma, 2.5 cm in greatest dimension. Lymph nodes: 3 of 10 positive for carcinoma.";
  const auto other = extract_report_fields(thyroid);
  EXPECT_EQ(find_field(other, "tumor_size_cm")->value, "2.5");
  EXPECT_EQ(find_field(other, "nodes_positive")->value, "3");
  EXPECT_FALSE(find_field(other, "pt"));
  EXPECT_FALSE(find_field(other, "pn"));
  // A stated stage is taken in any organ.
  EXPECT_EQ(find_field(extract_report_fields(thyroid + " pT2 pN1a."), "pt")->value, "T2");

  for (const std::string breast : {"Left breast, lumpectomy: ", "Mastectomy: ", "Infiltrating ductal carcinoma. "}) {
    const auto fields = extract_report_fields(breast + thyroid);
    const auto pt = find_field(fields, "pt"), pn = find_field(fields, "pn");
    ASSERT_TRUE(pt && pn) << breast;
    EXPECT_EQ(pt->value, "T2");
    EXPECT_TRUE(pt->derived);
    EXPECT_EQ(pn->value, "N1");
    EXPECT_TRUE(pn->derived);
  }
}

TEST(ReportFields, OcrQuirksAndCompoundStages) {
  // "pNO" with a letter O, and German-style "pT2N3aL0V0R0".
  EXPECT_EQ(find_field(extract_report_fields("(AJCC pT1c pNO(i-))"), "pn")->value, "N0");
  const auto compound = extract_report_fields("classification: NOS, G II, pT2N3aL0V0R0.");
  EXPECT_EQ(find_field(compound, "pt")->value, "T2");
  EXPECT_EQ(find_field(compound, "pn")->value, "N3a");
  // In situ never outranks invasive disease.
  EXPECT_EQ(find_field(extract_report_fields("pTis (DCIS) and pT2 invasive focus"), "pt")->value, "T2");
  // "m" leads the token of several tumours.
  EXPECT_EQ(find_field(extract_report_fields("STAGING: pTis (DCIS). STAGING: mpT1a pNo. STAGING: mpT2a"), "pt")->value,
            "T2a");
  EXPECT_EQ(ajcc_category("T2a"), "T2");
  EXPECT_EQ(ajcc_category("N1mi"), "N1");
  EXPECT_EQ(ajcc_category("Tis"), "Tis");
}

TEST(ReportFields, OcrLettersSynopticFormsAndPostTreatmentStages) {
  const auto value = [](const char* text, const char* name) {
    const auto f = find_field(extract_report_fields(text), name);
    return f ? f->value : std::string("none");
  };
  // l, I and | are 1 and O is 0 only inside a stage token.
  EXPECT_EQ(value("Final stage pTlc pNO", "pt"), "T1c");
  EXPECT_EQ(value("Final stage pTlc pNO", "pn"), "N0");
  EXPECT_EQ(value("(AJCC pTIb)", "pt"), "T1b");
  EXPECT_EQ(value("Lots of ptosis and no stage.", "pt"), "none");
  EXPECT_EQ(value("Stage (fibrosis): periportal to septal.", "pt"), "none");  // "to" is a word
  EXPECT_EQ(value("Pathologic stage: Tla NX MX.", "pt"), "T1a");
  EXPECT_EQ(value("Extent of invasion: T2: tumor greater than 3 cm", "pt"), "T2");
  EXPECT_EQ(value("Lymph Node Stage (AJCC 7th Edition) : N2b (Metastasis in", "pn"), "N2b");
  EXPECT_EQ(value("FIGO stage IIB, T2b2 N1 in the staging table", "pt"), "T2b");
  EXPECT_EQ(value("Pathological T. T2. Pathological N. N1a.", "pt"), "T2");
  EXPECT_EQ(value("Pathological T. T2. Pathological N. NO,NOS.", "pn"), "N0");
  EXPECT_EQ(value("T Stage: 3 N Stage: 0", "pt"), "T3");
  EXPECT_EQ(value("T Stage: 3 N Stage: 0", "pn"), "N0");
  EXPECT_EQ(value("Primary Tumor (pT): pT1c", "pt"), "T1c");
  EXPECT_EQ(value("carcinoma (3 cm) [AJCC pT1c]", "pt"), "T1c");
  EXPECT_EQ(value("AJCC Classification (6th Edition) : T3 NO MX.", "pn"), "N0");
  EXPECT_EQ(value("Resection margin involved: T1b N1. Procedure", "pt"), "T1b");
  EXPECT_EQ(value("ypT2 ypN1", "pn"), "N1");
  EXPECT_TRUE(find_field(extract_report_fields("ypT2 ypN1"), "pn")->post_treatment);
  EXPECT_TRUE(find_field(extract_report_fields("ypT2 ypN1"), "pt")->post_treatment);
  EXPECT_FALSE(find_field(extract_report_fields("pT2 pN1"), "pt")->post_treatment);
  EXPECT_EQ(compose_summary(extract_report_fields("ypT2 ypN1")), (std::vector<std::string>{"ypT2 ypN1"}));
  EXPECT_EQ(value("pNX", "pn"), "none");  // not assessed: no value
  // Sizes beside the tumour's noun give the derived pT of a breast report; a
  // specimen's never.
  EXPECT_EQ(value("Breast: ductal carcinoma forming a mass (1.9 x 1.0 x 0.9 cm).", "pt"), "T1");
  EXPECT_EQ(value("a 2.8 x 2.6 x 2 cm mass", "tumor_size_cm"), "2.8");
  EXPECT_EQ(value("BREAST TUMOR 9.0 BY 8.5 BY 4.0 CM", "pt"), "T3");
  EXPECT_EQ(value("Tumour Size (cm). 2.7000000000000002", "tumor_size_cm"), "2.7");
  EXPECT_EQ(value("a 22 x 15 x 5 cm mastectomy specimen", "tumor_size_cm"), "none");
  EXPECT_EQ(value("Margin 7 CM FROM TUMOR.", "tumor_size_cm"), "none");  // a distance
  // Node counts.
  EXPECT_EQ(value("MASTECTOMY: 4 OF 7 LYMPH NODES POSITIVE", "pn"), "N2");
  EXPECT_EQ(value("Four (out of fourteen) axillary lymph nodes are positive", "nodes_examined"), "14");
  EXPECT_EQ(value("lymph nodes, negative for metastatic carcinoma (0/3)", "nodes_examined"), "3");
  EXPECT_EQ(value("sentinel lymph node: N0(i+)", "pn"), "N0");
  EXPECT_EQ(value("no0(i+)", "pn"), "none");
  EXPECT_EQ(value("(AJCC pT1c pN0(i+))", "pn"), "N0");
  EXPECT_EQ(value("Lymph nodes are negative.", "nodes_examined"), "none");  // uncounted
  EXPECT_EQ(value("Breast, lumpectomy. Lymph nodes are negative.", "pn"), "N0");
}

TEST(ReportFields, StagesRunTogetherCarryingAGradeOrSplitByPeriods) {
  const auto field_of = [](const std::string& text, const char* name) {
    const auto fields = extract_report_fields(text);
    const auto f = find_field(fields, name);
    return f ? f->value + " from '" + text.substr(f->begin, f->end - f->begin) + "'" : std::string("none");
  };
  // T and N with nothing between them.
  EXPECT_EQ(field_of("complete resection of a T1N0 squamous cell carcinoma", "pn"), "N0 from 'T1N0'");
  EXPECT_EQ(field_of("adenocarcinoma T2NO lesion in distal rectum", "pn"), "N0 from 'T2NO'");
  EXPECT_EQ(field_of("muscle invasive urothelial cell carcinoma, T3aN2Mx.", "pt"), "T3a from 'T3a'");
  EXPECT_EQ(field_of("muscle invasive urothelial cell carcinoma, T3aN2Mx.", "pn"), "N2 from 'T3aN2'");
  // A grade run into the T token.
  EXPECT_EQ(field_of("Also carcinoma in situ (CIS). pT3bG3 NO.", "pt"), "T3b from 'pT3b'");
  // A staging line whose parts end in periods.
  EXPECT_EQ(field_of("Pathological Staging (pTNM): T 2c. N 0. M x.", "pn"), "N0 from 'Staging (pTNM): T 2c. N 0'");
  // A registry's "not otherwise specified".
  EXPECT_EQ(field_of("Adenocarcinoma. RESECT. RUL. 2.00. 03. I. T2,NOS. MO.", "pt"), "T2 from 'T2'");
  // None of these is a stage: a block label, a word, a grade alone.
  EXPECT_EQ(field_of("Blocks. T1-4, tumor mass of liver X 4.", "pt"), "none");
  EXPECT_EQ(field_of("The tonsil was noted.", "pn"), "none");
  EXPECT_EQ(field_of("Grade G3 carcinoma", "pt"), "none");
}

TEST(ReportFields, AccuracyOnTheSharedTcgaReportsHasAFloor) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto table = read_csv((data / "reports/tcga_brca_reports.csv").string());
  const size_t text = table.column("text"), t_label = table.column("ajcc_pathologic_t"),
               n_label = table.column("ajcc_pathologic_n");
  int t_total = 0, t_ok = 0, n_total = 0, n_ok = 0;
  for (const auto& row : table.rows) {
    const auto fields = extract_report_fields(row[text]);
    if (!row[t_label].empty()) {
      ++t_total;
      const auto pt = find_field(fields, "pt");
      t_ok += pt && ajcc_category(pt->value) == ajcc_category(row[t_label]);
    }
    if (!row[n_label].empty()) {
      ++n_total;
      const auto pn = find_field(fields, "pn");
      n_ok += pn && ajcc_category(pn->value) == ajcc_category(row[n_label]);
    }
  }
  EXPECT_EQ(t_total, 94);
  EXPECT_EQ(n_total, 67);
  // docs/PROMPTS.md reports 88.3% (T) and 86.6% (N); the floors leave room for
  // rule changes but catch regressions.
  EXPECT_GE(double(t_ok) / t_total, 0.81) << t_ok << "/" << t_total;
  EXPECT_GE(double(n_ok) / n_total, 0.81) << n_ok << "/" << n_total;
}

// The other cancers of the same split, stated values only (the derivations
// follow AJCC's breast rules): accuracy over labelled cases and precision over
// the values given.
TEST(ReportFields, StatedStagesOnTheOtherTcgaCancersHaveFloors) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto table = read_csv((data / "reports/tcga_other_cancers_reports.csv").string());
  const size_t text = table.column("text");
  struct Tally {
    int labelled = 0, given = 0, correct = 0;
  } t, n;
  for (const auto& row : table.rows) {
    const auto fields = extract_report_fields(row[text]);
    for (auto [tally, name, label] : {std::tuple{&t, "pt", row[table.column("ajcc_pathologic_t")]},
                                      std::tuple{&n, "pn", row[table.column("ajcc_pathologic_n")]}}) {
      if (label.empty()) continue;
      ++tally->labelled;
      const auto got = find_field(fields, name);
      if (!got || got->derived) continue;
      ++tally->given;
      tally->correct += ajcc_category(got->value) == ajcc_category(label);
    }
  }
  EXPECT_EQ(t.labelled, 888);
  EXPECT_EQ(n.labelled, 713);
  // docs/PROMPTS.md reports the figures these floors sit a few points under.
  EXPECT_GE(double(t.correct) / t.labelled, 0.57) << t.correct << "/" << t.labelled;
  EXPECT_GE(double(n.correct) / n.labelled, 0.50) << n.correct << "/" << n.labelled;
  EXPECT_GE(double(t.correct) / t.given, 0.94) << t.correct << "/" << t.given;
  EXPECT_GE(double(n.correct) / n.given, 0.95) << n.correct << "/" << n.given;
}

// The numbers written in `span`, digits and number words; OCR's O/l/I/| inside
// a stage token read as digits.
std::vector<int> numbers_in(const std::string& span) {
  static const std::map<std::string, int> words = {
      {"no", 0},       {"none", 0},     {"zero", 0},       {"one", 1},       {"single", 1},    {"two", 2},
      {"three", 3},    {"four", 4},     {"five", 5},       {"six", 6},       {"seven", 7},     {"eight", 8},
      {"nine", 9},     {"ten", 10},     {"eleven", 11},    {"twelve", 12},   {"thirteen", 13}, {"fourteen", 14},
      {"fifteen", 15}, {"sixteen", 16}, {"seventeen", 17}, {"eighteen", 18}, {"nineteen", 19}, {"twenty", 20}};
  std::vector<int> out;
  for (size_t i = 0; i < span.size();) {
    if (std::isdigit(static_cast<unsigned char>(span[i]))) {
      size_t j = i;
      while (j < span.size() && std::isdigit(static_cast<unsigned char>(span[j]))) ++j;
      out.push_back(std::atoi(span.substr(i, j - i).c_str()));
      i = j;
    } else if (std::isalpha(static_cast<unsigned char>(span[i]))) {
      size_t j = i;
      while (j < span.size() && std::isalpha(static_cast<unsigned char>(span[j]))) ++j;
      std::string word = span.substr(i, j - i);
      for (auto& c : word) c = char(std::tolower(static_cast<unsigned char>(c)));
      if (const auto it = words.find(word); it != words.end()) out.push_back(it->second);
      i = j;
    } else {
      ++i;
    }
  }
  return out;
}

// Whether some of `numbers` add up to `total` (several node specimens add up
// to one count).
bool some_add_up_to(const std::vector<int>& numbers, int total) {
  std::vector<bool> reachable(size_t(total) + 1, false);
  reachable[0] = true;
  for (const int n : numbers) {
    for (int s = total; s >= n; --s) reachable[size_t(s)] = reachable[size_t(s)] || reachable[size_t(s - n)];
  }
  return reachable[size_t(total)];
}

// The AJCC code of a stage value as it may be written: "T1c" -> "1", "Tis" -> "is".
std::string stage_code(const std::string& value) {
  std::string code = value.substr(1);
  if (code.rfind("is", 0) == 0) return "is";
  return code.substr(0, 1);
}

// A stage token as OCR may write it, normalised: O -> 0, l/I/| -> 1.
std::string ocr_normalised(std::string span) {
  for (auto& c : span) {
    const char l = char(std::tolower(static_cast<unsigned char>(c)));
    if (l == 'o') c = '0';
    if (l == 'l' || l == 'i' || c == '|') c = '1';
  }
  for (auto& c : span) c = char(std::tolower(static_cast<unsigned char>(c)));
  return span;
}

void expect_spans_hold_their_values(const fs::path& csv) {
  const auto table = read_csv(csv.string());
  const size_t id = table.column("case_submitter_id"), text_column = table.column("text");
  size_t checked = 0;
  for (const auto& row : table.rows) {
    const std::string& text = row[text_column];
    const auto fields = extract_report_fields(text);
    for (const auto& f : fields) {
      ++checked;
      ASSERT_LT(f.begin, f.end) << row[id] << " " << f.name;
      ASSERT_LE(f.end, text.size()) << row[id] << " " << f.name;
      const std::string span = text.substr(f.begin, f.end - f.begin);
      const std::string where = row[id] + " " + f.name + "=" + f.value + " span '" + span + "'";
      if (f.name == "nodes_positive" || f.name == "nodes_examined") {
        EXPECT_TRUE(some_add_up_to(numbers_in(span), std::atoi(f.value.c_str()))) << where;
      } else if (f.name == "tumor_size_cm") {
        // Written in cm or mm; the value is rounded to 0.1 cm.
        const double cm = std::atof(f.value.c_str());
        bool found = false;
        for (size_t i = 0; i < span.size(); ++i) {
          if (!std::isdigit(static_cast<unsigned char>(span[i])) ||
              (i > 0 && (std::isdigit(static_cast<unsigned char>(span[i - 1])) || span[i - 1] == '.')))
            continue;
          const double written = std::atof(span.c_str() + i);
          found = found || std::abs(written - cm) < 0.051 || std::abs(written / 10 - cm) < 0.051;
        }
        EXPECT_TRUE(found) << where;
      } else if ((f.name == "pt" || f.name == "pn" || f.name == "pm") && !f.derived) {
        const std::string code = stage_code(f.value);
        std::string lowered = span;
        for (auto& c : lowered) c = char(std::tolower(static_cast<unsigned char>(c)));
        EXPECT_TRUE(lowered.find(code) != std::string::npos || ocr_normalised(span).find(code) != std::string::npos)
            << where;
      } else if (f.name == "pt" && f.derived) {
        const auto size = find_field(fields, "tumor_size_cm");
        ASSERT_TRUE(size) << where;
        EXPECT_EQ(f.begin, size->begin) << where;
        EXPECT_EQ(f.end, size->end) << where;
      } else if (f.name == "pn" && f.derived && f.value != "N0") {
        EXPECT_FALSE(numbers_in(span).empty()) << where;
      }
    }
  }
  EXPECT_GT(checked, table.rows.size());
}

// Every span is the report's bytes at [begin, end) and holds the number or
// code its value came from, on every report of both files.
TEST(ReportFields, EverySpanHoldsTheTextOfItsValue) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  expect_spans_hold_their_values(data / "reports/tcga_brca_reports.csv");
  expect_spans_hold_their_values(data / "reports/tcga_other_cancers_reports.csv");
}

// "(7/8)" gives 7 positive and 8 examined; a second specimen's "(1/5)" adds
// to both, and the span covers both counts.
TEST(ReportFields, SummedNodeCountsSpanEveryPart) {
  const std::string text =
      "A. Sentinel lymph node: metastatic carcinoma (7/8). B. Axillary lymph nodes: metastatic carcinoma (1/5).";
  const auto fields = extract_report_fields(text);
  const auto positive = find_field(fields, "nodes_positive"), examined = find_field(fields, "nodes_examined");
  ASSERT_TRUE(positive && examined);
  EXPECT_EQ(positive->value, "8");
  EXPECT_EQ(examined->value, "13");
  EXPECT_EQ(text.substr(positive->begin, positive->end - positive->begin),
            "(7/8). B. Axillary lymph nodes: metastatic carcinoma (1/5)");
  EXPECT_EQ(examined->begin, positive->begin);
  EXPECT_EQ(examined->end, positive->end);
}

TEST(Summary, ComposedInPriorityOrder) {
  const auto clauses = compose_summary(extract_report_fields(kReport));
  EXPECT_EQ(clauses,
            (std::vector<std::string>{"invasive ductal carcinoma", "grade 2", "ER+ PR- HER2+", "pT2 pN1a", "2.8 cm",
                                      "lymphovascular invasion absent", "margins negative", "2/14 nodes positive"}));
  EXPECT_EQ(split_summary("High-grade IDC, ER positive; nodes involved."),
            (std::vector<std::string>{"High-grade IDC", "ER positive", "nodes involved"}));
}

TEST(PromptTemplate, SegmentsWithoutAValueAreLeftOut) {
  const auto t = PromptTemplate::parse("{tumor} tumor; {til} til; {summary}", "test");
  ASSERT_EQ(t.segments().size(), 3u);
  const auto all = budget_prompt(t, {"high", "low", {"idc", "grade 3"}}, 77, words_plus_two);
  EXPECT_EQ(all.text, "high tumor; low til; idc, grade 3");
  EXPECT_EQ(all.tokens, 9u);
  EXPECT_TRUE(all.dropped.empty());
  EXPECT_EQ(budget_prompt(t, {"", "", {"idc"}}, 77, words_plus_two).text, "idc");
  EXPECT_EQ(budget_prompt(t, {"medium", "", {}}, 77, words_plus_two).text, "medium tumor");
  EXPECT_THROW(PromptTemplate::parse("{stage}", "t"), Error);
  EXPECT_THROW(PromptTemplate::parse("{tumor} and {til}", "t"), Error);
  EXPECT_THROW(PromptTemplate::parse("{tumor", "t"), Error);
}

TEST(PromptTemplate, BudgetDropsWholePartsInTheDocumentedOrder) {
  const auto t = PromptTemplate::parse("{tumor} tumor; {til} til; {summary}", "test");
  const PromptParts parts{"high", "low", {"invasive ductal carcinoma", "grade 3", "pT2 pN1"}};
  // 11 words + 2 = 13 tokens in all.
  const auto at = [&](size_t budget) { return budget_prompt(t, parts, budget, words_plus_two); };
  EXPECT_EQ(at(13).text, "high tumor; low til; invasive ductal carcinoma, grade 3, pT2 pN1");
  EXPECT_EQ(at(12).text, "high tumor; low til; invasive ductal carcinoma, grade 3");
  EXPECT_EQ(at(12).dropped, (std::vector<std::string>{"summary: pT2 pN1"}));
  EXPECT_EQ(at(10).text, "high tumor; low til; invasive ductal carcinoma");
  EXPECT_EQ(at(8).text, "high tumor; invasive ductal carcinoma");
  EXPECT_EQ(at(6).text, "invasive ductal carcinoma");
  EXPECT_EQ(at(4).text, "");
  EXPECT_EQ(at(4).dropped.back(), "summary: invasive ductal carcinoma");
  for (size_t budget = 2; budget <= 20; ++budget) {
    const auto p = at(budget);
    EXPECT_LE(p.tokens, std::max<size_t>(budget, 2)) << budget;
    EXPECT_EQ(p.tokens, words_plus_two(p.text));
  }
  // Never over 77, whatever the budget asked for.
  const PromptParts long_parts{"", "", std::vector<std::string>(100, "word")};
  EXPECT_LE(budget_prompt(t, long_parts, 500, words_plus_two).tokens, 77u);
}

TEST(PromptTemplate, ShippedTemplatesLoadByName) {
  const auto t = PromptTemplate::load("pathldm");
  EXPECT_EQ(t.text(), "{tumor} tumor; {til} til; {summary}");
  EXPECT_THROW(PromptTemplate::load("no-such-template"), Error);
}

TEST(Summary, AUserSummaryReplacesTheReports) {
  const auto fields = extract_report_fields(kReport);
  const std::string user = "mucinous carcinoma; grade 1";
  const auto from_user = choose_summary(&fields, &user);
  EXPECT_EQ(from_user.clauses, (std::vector<std::string>{"mucinous carcinoma", "grade 1"}));
  EXPECT_EQ(from_user.source, "user-summary");
  const auto from_report = choose_summary(&fields, nullptr);
  EXPECT_EQ(from_report.clauses, compose_summary(fields));
  EXPECT_EQ(from_report.source, "report");
  EXPECT_EQ(choose_summary(nullptr, &user).source, "user-summary");
  const auto none = choose_summary(nullptr, nullptr);
  EXPECT_TRUE(none.clauses.empty());
  EXPECT_EQ(none.source, "none");
}

TEST(UserSummaries, ReadByCaseAndACaseListedTwiceNamesTheLine) {
  testing::TempDir dir;
  write(dir / "s.csv", "id,summary\nA,\"idc, grade 3\"\nB,ilc\n");
  EXPECT_EQ(read_user_summaries((dir / "s.csv").string(), "id"),
            (std::map<std::string, std::string>{{"A", "idc, grade 3"}, {"B", "ilc"}}));
  write(dir / "twice.csv", "id,summary\nA,idc\nA,ilc\n");
  try {
    read_user_summaries((dir / "twice.csv").string(), "id");
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("twice.csv:3: case 'A' has two summaries"), std::string::npos) << e.what();
  }
  EXPECT_THROW(read_user_summaries((dir / "s.csv").string(), "case_submitter_id"), Error);
}

TEST(PromptOptions, TokenBudgetWithinThreeAndClipsContext) {
  EXPECT_NO_THROW(check_token_budget(3, "--token-budget"));
  EXPECT_NO_THROW(check_token_budget(77, "--token-budget"));
  EXPECT_THROW(check_token_budget(78, "--token-budget"), Error);
  try {
    check_token_budget(2, "--token-budget");
    FAIL();
  } catch (const Error& e) {
    EXPECT_EQ(std::string(e.what()), "--token-budget must be in 3..77 (CLIP's context, start and end tokens included)");
  }
}

TEST(ClipVocabulary, TheFlagThenTheEnvironmentThenAnErrorSayingHow) {
  ::setenv(kClipVocabularyVariable, "from-env.txt.gz", 1);
  EXPECT_EQ(clip_vocabulary_path("from-flag.txt.gz", "prompts"), "from-flag.txt.gz");
  EXPECT_EQ(clip_vocabulary_path("", "prompts"), "from-env.txt.gz");
  EXPECT_EQ(clip_vocabulary_path("", "prompts", "", "from-run.txt.gz"), "from-env.txt.gz");
  ::unsetenv(kClipVocabularyVariable);
  EXPECT_EQ(clip_vocabulary_path("", "prompts", "", "from-run.txt.gz"), "from-run.txt.gz");
  try {
    clip_vocabulary_path("", "prompt files", ", or pass another");
    FAIL();
  } catch (const Error& e) {
    const std::string message = e.what();
    EXPECT_EQ(message.rfind("the CLIP BPE vocabulary is needed for prompt files: pass --clip-vocab "
                            "bpe_simple_vocab_16e6.txt.gz",
                            0),
              0u)
        << message;
    EXPECT_NE(message.find("or set TESSERA_CLIP_VOCAB to its path, or pass another"), std::string::npos) << message;
    EXPECT_NE(message.find("(tessera learn-vocab)"), std::string::npos) << message;
  }
}

// The composer is budget_prompt with its vocabulary's token counts, and the
// ids of what it kept. The vocabulary is learned here, one token per word.
TEST(PromptComposer, BudgetedTextItsIdsAndWhatWasDropped) {
  const std::string words = "high tumor; low til; invasive ductal carcinoma, grade 3, ER+ PR- HER2+";
  const auto tokenizer = text::ClipTokenizer::from_merges(text::learn_bpe_merges({words, words}));
  ASSERT_EQ(tokenizer.count_tokens(words), 2 + text::ClipTokenizer::pre_tokens(words).size());
  const PromptComposer composer(PromptTemplate::load("pathldm"), 12, tokenizer);
  const PromptParts parts{"high", "low", {"invasive ductal carcinoma", "grade 3", "ER+ PR- HER2+"}};
  const auto prompt = composer.compose(parts);
  EXPECT_EQ(prompt.text, "high tumor; low til; invasive ductal carcinoma");
  EXPECT_EQ(prompt.dropped, (std::vector<std::string>{"summary: ER+ PR- HER2+", "summary: grade 3"}));
  EXPECT_EQ(prompt.token_ids, tokenizer.tokenize(prompt.text, kClipContext, false));
  EXPECT_LE(prompt.token_ids.size(), 12u);

  const auto unconditional = composer.compose({});
  EXPECT_EQ(unconditional.text, "");
  EXPECT_EQ(unconditional.token_ids, (std::vector<int32_t>{tokenizer.start_token(), tokenizer.end_token()}));

  EXPECT_THROW(PromptComposer(PromptTemplate::load("pathldm"), kMinTokenBudget - 1, tokenizer), Error);
  EXPECT_THROW(PromptComposer(PromptTemplate::load("pathldm"), kClipContext + 1, tokenizer), Error);
}

// Every report of both TCGA files composes within the default budget, and the
// budget drops summary clauses least important first.
TEST(PromptComposer, EveryTcgaReportFitsTheDefaultBudgetDroppingLastClausesFirst) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto tokenizer = text::ClipTokenizer::from_bpe_gz((data / "clip/bpe_simple_vocab_16e6.txt.gz").string());
  const PromptComposer composer(PromptTemplate::load("pathldm"), kDefaultTokenBudget, tokenizer);
  size_t reports = 0, with_drops = 0;
  for (const char* file : {"reports/tcga_brca_reports.csv", "reports/tcga_other_cancers_reports.csv"}) {
    const auto table = read_csv((data / file).string());
    const size_t id = table.column("case_submitter_id"), text = table.column("text");
    for (const auto& row : table.rows) {
      ++reports;
      const auto clauses = compose_summary(extract_report_fields(row[text]));
      const auto prompt = composer.compose({"high", "low", clauses});
      EXPECT_LE(prompt.token_ids.size(), kDefaultTokenBudget) << row[id] << ": " << prompt.text;
      with_drops += !prompt.dropped.empty();
      for (size_t i = 0; i < prompt.dropped.size(); ++i) {
        ASSERT_LT(i, clauses.size()) << row[id];
        EXPECT_EQ(prompt.dropped[i], "summary: " + clauses[clauses.size() - 1 - i]) << row[id];
      }
    }
  }
  EXPECT_EQ(reports, 982u);
  EXPECT_GT(with_drops, 0u);  // the budget binds on some reports, so the order is exercised
}

TEST(TileAttributes, OverlapWeightedMeanAndClosedTopBin) {
  testing::TempDir dir;
  // Patches of 100 px at 1 µm/px; the slide is at 0.5 µm/px, so a 400-px
  // level-0 tile at (0, 0) covers table pixels 0..200: four patches.
  write(dir / "attr.csv",
        "slide,x,y,w,h,tumor,til\n"
        "S,0,0,100,100,1.0,0.1\n"
        "S,100,0,100,100,1.0,\n"
        "S,0,100,100,100,0.2,0.3\n"
        "S,100,100,100,100,0.2,0.5\n"
        "S,300,300,100,100,0.0,0.0\n"
        "T,0,0,100,100,0.5,0.5\n");
  TileAttributeOptions options;
  options.mpp = 1.0;
  const auto by_slide = read_tile_attributes((dir / "attr.csv").string(), options);
  ASSERT_EQ(by_slide.size(), 2u);
  const auto p = average_over_tile(by_slide.at("S"), 0.5, 0, 0, 400);
  ASSERT_TRUE(p.tumor && p.til);
  EXPECT_DOUBLE_EQ(*p.tumor, 0.6);  // (1 + 1 + 0.2 + 0.2) / 4
  EXPECT_DOUBLE_EQ(*p.til, 0.3);    // (0.1 + 0.3 + 0.5) / 3: the empty cell is missing, not 0
  // Half of a patch: the weight is the overlapping area.
  const auto half = average_over_tile(by_slide.at("S"), 1.0, 50, 0, 100);
  EXPECT_DOUBLE_EQ(*half.tumor, 1.0);
  EXPECT_DOUBLE_EQ(*half.til, 0.1);
  // Nothing overlaps: both missing.
  const auto none = average_over_tile(by_slide.at("S"), 1.0, 1000, 1000, 100);
  EXPECT_FALSE(none.tumor || none.til);

  EXPECT_EQ(probability_bin(0.0), "low");
  EXPECT_EQ(probability_bin(0.33), "low");
  EXPECT_EQ(probability_bin(0.34), "medium");
  EXPECT_EQ(probability_bin(0.9999), "high");
  EXPECT_EQ(probability_bin(1.0), "high");
  EXPECT_EQ(probability_bin_rank("low"), 0u);
  EXPECT_EQ(probability_bin_rank("medium"), 1u);
  EXPECT_EQ(probability_bin_rank("high"), 2u);
  EXPECT_FALSE(probability_bin_rank(""));
  EXPECT_FALSE(probability_bin_rank("High"));
}

TEST(TileAttributes, BadTablesNameTheLine) {
  testing::TempDir dir;
  TileAttributeOptions options;
  options.mpp = 0.5;
  const struct {
    const char* content;
    const char* message;
  } bad[] = {
      {"slide,x,y,w,h,tumor\nS,0,0,10,10,1.5\n", "attr.csv:2: column 'tumor' is outside [0, 1]: 1.5"},
      {"slide,x,y,w,h,tumor\nS,0,zero,10,10,0.5\n", "attr.csv:2: column 'y' is not a finite number: 'zero'"},
      {"slide,x,y,w,h,tumor\nS,nan,0,10,10,0.5\n", "attr.csv:2: column 'x' is not a finite number: 'nan'"},
      {"slide,x,y,w,h,tumor\nS,0,0,1e999,10,0.5\n", "attr.csv:2: column 'w' is not a finite number: '1e999'"},
      {"slide,x,y,w,h,tumor\nS,0,0,10,10,0.5\nT,0,0,10,10,0.5\nS,0,0,10,10,0.7\n",
       "attr.csv:4: slide 'S' has this patch (x, y, w, h) on line 2 already"},
      {"slide,x,y,w,h,tumor\n", "attr.csv: the header line is followed by no rows"},
      {"slide,x,y,w,h\nS,0,0,10,10\n", "neither a 'tumor' nor a 'til' column"},
      {"slide,x,y,w,tumor\nS,0,0,10,0.5\n", "no column 'h'"},
  };
  for (const auto& b : bad) {
    write(dir / "attr.csv", b.content);
    try {
      read_tile_attributes((dir / "attr.csv").string(), options);
      FAIL() << b.content;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
    }
  }
}

TEST(TileAttributes, PatchesOffTheSlideNameTheLine) {
  testing::TempDir dir;
  TileAttributeOptions options;
  options.mpp = 1.0;
  // The slide: 2000 x 1000 px at 0.5 µm/px, so 1000 x 500 px at the table's 1 µm/px.
  const auto check = [&](const std::string& rows) {
    write(dir / "attr.csv", "slide,x,y,w,h,tumor\nS,0,0,100,100,0.5\n" + rows);
    const auto by_slide = read_tile_attributes((dir / "attr.csv").string(), options);
    try {
      check_patches_on_slide(by_slide.at("S"), "S", 0.5, 2000, 1000);
    } catch (const Error& e) {
      return std::string(e.what());
    }
    return std::string();
  };
  EXPECT_EQ(check("S,950,450,100,100,0.5\n"), "");  // over the edge, but on the slide
  EXPECT_EQ(check("S,950,450,100,100,0.5\nS,1000,0,100,100,0.5\n"),
            (dir / "attr.csv").string() +
                ":4: the patch at (1000, 0) of 100 x 100 px lies off slide S, which is 1000 x 500 px at the table's 1 "
                "um/px");
  EXPECT_EQ(check("S,-100,0,100,100,0.5\n"),
            (dir / "attr.csv").string() +
                ":3: the patch at (-100, 0) of 100 x 100 px lies off slide S, which is 1000 x 500 px at the table's 1 "
                "um/px");
  EXPECT_EQ(check("S,1e15,0,100,100,0.5\n"),
            (dir / "attr.csv").string() +
                ":3: the patch at (1e+15, 0) of 100 x 100 px lies off slide S, which is 1000 x 500 px at the table's "
                "1 um/px");
  EXPECT_EQ(check("S,0,0,4000,4000,0.5\n"), "");  // one value for the whole slide
}

TEST(CaseMatching, TcgaBarcodeRegexAndMapping) {
  CaseMatcher tcga;
  EXPECT_EQ(tcga.case_id("TCGA-AR-A0TP-01Z-00-DX1.E1A92F92-1DD2"), "TCGA-AR-A0TP");
  EXPECT_FALSE(tcga.case_id("CMU-1-Small-Region"));
  CaseMatcher regex({"^(P\\d+)_", ""});
  EXPECT_EQ(regex.case_id("P0042_slide3"), "P0042");
  EXPECT_THROW(CaseMatcher({"no group", ""}), Error);
  EXPECT_THROW(CaseMatcher({"(unclosed", ""}), Error);

  testing::TempDir dir;
  write(dir / "map.csv", "slide,case\nCMU-1-Small-Region,TCGA-AR-A0TP\n");
  CaseMatcher mapping({"", (dir / "map.csv").string()});
  EXPECT_EQ(mapping.case_id("CMU-1-Small-Region"), "TCGA-AR-A0TP");
  EXPECT_FALSE(mapping.case_id("other"));
}

TEST(ReportSource, CsvJsonlAndTextFolders) {
  testing::TempDir dir;
  write(dir / "r.csv", "case_submitter_id,text\nA,\"one, two\"\nB,three\n");
  write(dir / "r.jsonl",
        "{\"case_submitter_id\": \"A\", \"text\": \"one\"}\n\n{\"case_submitter_id\": \"B\", \"text\": \"two\"}\n");
  write(dir / "txt/A.txt", "report of A");
  write(dir / "txt/B.TXT", "report of B");
  for (const auto* name : {"r.csv", "r.jsonl", "txt"}) {
    const auto reports = read_reports((dir / name).string());
    ASSERT_EQ(reports.size(), 2u) << name;
    EXPECT_EQ(reports[0].case_id, "A");
    EXPECT_EQ(reports[1].case_id, "B");
  }
  EXPECT_EQ(read_reports((dir / "r.csv").string())[0].text, "one, two");
  EXPECT_EQ(read_reports((dir / "r.csv").string())[1].origin, (dir / "r.csv").string() + ":3");
}

TEST(ReportSource, MalformedSourcesAreRejectedWhole) {
  testing::TempDir dir;
  const struct {
    const char* file;
    const char* content;
    const char* message;
  } bad[] = {
      {"a.csv", "case_submitter_id,body\nA,x\n", "a.csv:1: no column 'text'"},
      {"b.csv", "case_submitter_id,text\nA,x\nB,\"unclosed\n", "b.csv:3:3: quoted field is never closed"},
      {"c.csv", "case_submitter_id,text\nA,x\nA,y\n", "c.csv:3: case 'A' already has a report at"},
      {"d.jsonl", "{\"case_submitter_id\": \"A\", \"text\": \"x\"}\n{\"case_submitter_id\": 7}\n",
       "d.jsonl:2: expected an object with a string 'case_submitter_id'"},
      {"e.jsonl", "{\"case_submitter_id\": \"A\", \"text\": \"x\"}\n{oops\n", "e.jsonl:2:"},
      {"f.xml", "<r/>", "unknown report format '.xml'"},
      {"g.jsonl", "{\"case_submitter_id\": \"A\", \"text\": \"x\", \"text\": \"y\"}\n",
       "g.jsonl:1: the key 'text' appears twice in one object"},
      {"h.csv", "case_submitter_id,text\n", "h.csv: the header line is followed by no rows"},
  };
  for (const auto& b : bad) {
    write(dir / b.file, b.content);
    try {
      read_reports((dir / b.file).string());
      FAIL() << b.file;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.message), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace tessera::stages
