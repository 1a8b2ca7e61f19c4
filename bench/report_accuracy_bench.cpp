// bench/report_accuracy: the report extractor's pT and pN against GDC's AJCC
// labels, per AJCC category (T1..T4, N0..N3).
//
//   build/bench/report_accuracy [REPORTS.csv] [--verbose]
#include <cstdio>
#include <filesystem>
#include <string>

#include "prompts/csv_table.h"
#include "prompts/report_fields.h"

namespace fs = std::filesystem;
using namespace tessera::stages;

int main(int argc, char** argv) {
  std::string path =
      (fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/reports/tcga_brca_reports.csv").string();
  bool verbose = false;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--verbose")
      verbose = true;
    else
      path = arg;
  }
  const CsvTable table = read_csv(path);
  const size_t id = table.column("case_submitter_id"), text = table.column("text");
  const size_t t_label = table.column("ajcc_pathologic_t"), n_label = table.column("ajcc_pathologic_n");
  struct Tally {
    int labelled = 0, predicted = 0, correct = 0, stated = 0, stated_correct = 0;
  } t, n;
  for (size_t r = 0; r < table.rows.size(); ++r) {
    const auto& row = table.rows[r];
    const auto fields = extract_report_fields(row[text]);
    for (auto [tally, name, label] : {std::tuple{&t, "pt", row[t_label]}, std::tuple{&n, "pn", row[n_label]}}) {
      if (label.empty()) continue;
      ++tally->labelled;
      const auto got = find_field(fields, name);
      if (!got) {
        if (verbose) std::printf("%s %s: label %s, none extracted\n", row[id].c_str(), name, label.c_str());
        continue;
      }
      ++tally->predicted;
      const bool ok = ajcc_category(got->value) == ajcc_category(label);
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
  std::printf("%zu reports in %s\n\n", table.rows.size(), fs::path(path).filename().c_str());
  std::printf("%-4s %9s %10s %9s %12s %16s %18s\n", "", "labelled", "extracted", "correct", "accuracy",
              "stated: correct", "derived: correct");
  for (auto [name, tally] : {std::pair{"T", t}, std::pair{"N", n}}) {
    std::printf("%-4s %9d %10d %9d %11.1f%% %9d/%-6d %11d/%-6d\n", name, tally.labelled, tally.predicted, tally.correct,
                100.0 * tally.correct / tally.labelled, tally.stated_correct, tally.stated,
                tally.correct - tally.stated_correct, tally.predicted - tally.stated);
  }
  std::printf("\naccuracy = correct category / labelled cases (a case with nothing extracted counts as wrong)\n");
  return 0;
}
