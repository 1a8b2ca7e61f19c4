// Makes the bundled example: a synthetic H&E slide and a matching pathology
// report, so that scripts/demo.sh runs with no external data.
//
//   make_example_slide OUT_DIR [--width W --height H --seed S]
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "examples/synthetic_slide.h"

namespace {

// A made-up report in the style of TCGA-BRCA pathology reports (OCR'd, upper
// case, line-broken), so the report stages have realistic input.
constexpr const char* kReport =
    "SURGICAL PATHOLOGY REPORT. SPECIMEN: LEFT BREAST, MODIFIED RADICAL MASTECTOMY. "
    "FINAL DIAGNOSIS: INVASIVE DUCTAL CARCINOMA, NOTTINGHAM GRADE 2 (TUBULES 3, NUCLEI 2, MITOSES 1). "
    "TUMOR SIZE: 2.8 CM IN GREATEST DIMENSION. LYMPHOVASCULAR INVASION: NOT IDENTIFIED. "
    "MARGINS: NEGATIVE, CLOSEST MARGIN 0.6 CM (DEEP). "
    "LYMPH NODES: METASTATIC CARCINOMA IN 2 OF 14 AXILLARY LYMPH NODES (2/14). "
    "ESTROGEN RECEPTOR: POSITIVE (90%). PROGESTERONE RECEPTOR: POSITIVE (40%). HER2/NEU: NEGATIVE (1+). "
    "PATHOLOGIC STAGE: pT2 pN1a pMX.";

}  // namespace

int main(int argc, char** argv) {
  if (argc < 2) {
    std::cerr << "usage: make_example_slide OUT_DIR [--width W] [--height H] [--seed S]\n";
    return 2;
  }
  const std::filesystem::path out = argv[1];
  tessera::examples::SyntheticSlideSpec spec;
  for (int i = 2; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    const int value = std::atoi(argv[i + 1]);
    if (flag == "--width") spec.width = value;
    else if (flag == "--height") spec.height = value;
    else if (flag == "--seed") spec.seed = uint32_t(value);
    else {
      std::cerr << "make_example_slide: unknown flag " << flag << '\n';
      return 2;
    }
  }
  try {
    std::filesystem::create_directories(out / "slides");
    const std::string slide = (out / "slides" / "TCGA-XS-0001-01Z-00-DX1.tiff").string();
    tessera::examples::write_synthetic_slide(slide, spec);
    std::ofstream report(out / "reports.csv");
    report << "case_submitter_id,text\n" << "TCGA-XS-0001,\"" << kReport << "\"\n";
    if (!report) throw std::runtime_error("cannot write " + (out / "reports.csv").string());
    std::cout << slide << '\n' << (out / "reports.csv").string() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "make_example_slide: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
