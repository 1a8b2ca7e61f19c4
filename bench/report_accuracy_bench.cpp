// bench/report_accuracy: the report extractor's pT and pN against GDC's AJCC
// labels, per AJCC category, on two tables: the TCGA-BRCA reports (stated and
// size- or count-derived values) and the other cancers of the same split
// (stated values only: the derivations follow AJCC's breast rules). Prints
// accuracy, precision, the share of cases with no value and the confusion
// matrices. For the cases with no value it also prints how many reports
// mention a stage at all, by a deliberately generous scan: the most that any
// rule reading stated values could reach.
//
//   build/bench/report_accuracy [--brca REPORTS.csv] [--other REPORTS.csv] [--verbose]
#include <re2/re2.h>

#include <cstdio>
#include <filesystem>
#include <map>
#include <set>
#include <string>

#include "prompts/csv_table.h"
#include "prompts/report_fields.h"

namespace fs = std::filesystem;
using namespace tessera::stages;

namespace {

constexpr const char* kNoValue = "-";

// Anything that could be a stated T or N: a stage token with a c, p, r or y
// prefix and any OCR stand-in (l, I, | for 1; O, o for 0), a bare token with a
// real digit, a synoptic field's name, or a TNM or AJCC heading that a value
// might follow. Generous on purpose: it bounds what rules could read, it does
// not read.
const RE2& t_mention() {
  static const RE2 pattern(
      R"(\b[cpry]{1,3}T\s?[0-4XxlI|Oo]|\bT\s?[0-4Xx](?:[a-d]|mi|is)?\b|(?i:\bT[ -]?(?:stage|category)\b)|)"
      R"((?i:primary\s+tumou?r\s*\(\s*p?T\s*\))|\bTNM\b|(?i:\bAJCC\b))");
  return pattern;
}
const RE2& n_mention() {
  static const RE2 pattern(
      R"(\b[cpry]{1,3}N\s?[0-3XxlI|Oo]|\bN\s?[0-3Xx](?:[a-c]|mi)?\b|T[0-4Xx][a-d]?\s?N|)"
      R"((?i:\bN[ -]?(?:stage|category)\b)|(?i:regional\s+lymph\s+nodes?\s*\(\s*p?N\s*\))|\bTNM\b|(?i:\bAJCC\b))");
  return pattern;
}

struct Tally {
  int labelled = 0, given = 0, correct = 0, stated = 0, stated_correct = 0;
  int silent_but_mentioned = 0;                                 // no value, though the report mentions a stage
  std::map<std::string, std::map<std::string, int>> confusion;  // label category -> extracted category -> cases
};

void print_table(const char* title, const Tally& t, const Tally& n) {
  std::printf("%s\n", title);
  std::printf("%-3s %8s %6s %9s %8s %9s %10s %14s %15s\n", "", "labelled", "given", "no value", "correct", "accuracy",
              "precision", "stated: prec.", "derived: prec.");
  for (const auto& [name, tally] : {std::pair{"T", &t}, std::pair{"N", &n}}) {
    const int derived = tally->given - tally->stated, derived_correct = tally->correct - tally->stated_correct;
    std::printf("%-3s %8d %6d %8.1f%% %8d %8.1f%% %9.1f%% %5d/%-3d%5.1f%% %5d/%-3d%5.1f%%\n", name, tally->labelled,
                tally->given, 100.0 * (tally->labelled - tally->given) / tally->labelled, tally->correct,
                100.0 * tally->correct / tally->labelled, tally->given ? 100.0 * tally->correct / tally->given : 0.0,
                tally->stated_correct, tally->stated,
                tally->stated ? 100.0 * tally->stated_correct / tally->stated : 0.0, derived_correct, derived,
                derived ? 100.0 * derived_correct / derived : 0.0);
  }
  for (const auto& [name, tally] : {std::pair{"T", &t}, std::pair{"N", &n}}) {
    const int silent = tally->labelled - tally->given;
    std::printf(
        "%s: of the %d labelled cases with no value, %d reports hold anything that could be a stated %s; reading all "
        "of them "
        "right would reach %.1f%%\n",
        name, silent, tally->silent_but_mentioned, name,
        100.0 * (tally->correct + tally->silent_but_mentioned) / tally->labelled);
  }
  for (const auto& [name, tally] : {std::pair{"T", &t}, std::pair{"N", &n}}) {
    std::set<std::string> columns;
    for (const auto& [label, row] : tally->confusion) {
      for (const auto& [got, count] : row) columns.insert(got);
    }
    std::printf("\n%s confusion (rows: label, columns: extracted, %s: no value)\n%-5s", name, kNoValue, "");
    for (const auto& c : columns) std::printf("%6s", c.c_str());
    std::printf("\n");
    for (const auto& [label, row] : tally->confusion) {
      std::printf("%-5s", label.c_str());
      for (const auto& c : columns) {
        const auto it = row.find(c);
        std::printf("%6d", it == row.end() ? 0 : it->second);
      }
      std::printf("\n");
    }
  }
  std::printf("\n");
}

// Scores one file; `derived_allowed` false counts derived values as no value.
void score(const std::string& path, const char* title, bool derived_allowed, bool verbose) {
  if (!fs::exists(path)) {
    std::printf("%s: %s not found, skipped\n\n", title, path.c_str());
    return;
  }
  const CsvTable table = read_csv(path);
  const size_t id = table.column("case_submitter_id"), text = table.column("text");
  const size_t t_label = table.column("ajcc_pathologic_t"), n_label = table.column("ajcc_pathologic_n");
  Tally t, n;
  for (const auto& row : table.rows) {
    const auto fields = extract_report_fields(row[text]);
    for (auto [tally, name, label, mention] :
         {std::tuple{&t, "pt", row[t_label], &t_mention()}, std::tuple{&n, "pn", row[n_label], &n_mention()}}) {
      if (label.empty()) continue;
      ++tally->labelled;
      auto got = find_field(fields, name);
      if (got && got->derived && !derived_allowed) got.reset();
      const std::string expected = ajcc_category(label);
      if (!got) {
        ++tally->confusion[expected][kNoValue];
        tally->silent_but_mentioned += RE2::PartialMatch(row[text], *mention);
        if (verbose) std::printf("%s %s: label %s, none extracted\n", row[id].c_str(), name, label.c_str());
        continue;
      }
      ++tally->given;
      const std::string category = ajcc_category(got->value);
      ++tally->confusion[expected][category];
      const bool ok = category == expected;
      tally->correct += ok;
      tally->stated += !got->derived;
      tally->stated_correct += ok && !got->derived;
      if (verbose && !ok) {
        std::printf("%s %s: label %s, extracted %s%s from \"%s\"\n", row[id].c_str(), name, label.c_str(),
                    got->value.c_str(), got->derived ? " (derived)" : "",
                    row[text].substr(got->begin, got->end - got->begin).c_str());
      }
    }
  }
  const std::string heading = std::string(title) + ": " + std::to_string(table.rows.size()) + " reports in " +
                              fs::path(path).filename().string();
  print_table(heading.c_str(), t, n);
}

}  // namespace

int main(int argc, char** argv) {
  const fs::path reports = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/reports";
  std::string brca = (reports / "tcga_brca_reports.csv").string();
  std::string other = (reports / "tcga_other_cancers_reports.csv").string();
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verbose")
      verbose = true;
    else if (arg == "--brca" && i + 1 < argc)
      brca = argv[++i];
    else if (arg == "--other" && i + 1 < argc)
      other = argv[++i];
    else {
      std::fprintf(stderr, "usage: %s [--brca REPORTS.csv] [--other REPORTS.csv] [--verbose]\n", argv[0]);
      return 2;
    }
  }
  score(brca, "TCGA-BRCA (stated and derived)", true, verbose);
  score(other, "Other cancers (stated only)", false, verbose);
  std::printf(
      "accuracy = correct category / labelled cases (no value counts as wrong); precision = correct / values given;\n"
      "no value = labelled cases with nothing extracted\n");
  return 0;
}
