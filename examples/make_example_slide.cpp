// Makes the bundled example: a synthetic H&E slide (and the same pixels as a
// DICOM series) and a matching pathology report, so that scripts/demo.sh runs
// with no external data.
//
//   make_example_slide OUT_DIR [--width W --height H --seed S]
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <iostream>
#include <string>

#include "examples/dicom_series_writer.h"
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

// Per-patch predictions in the layout wsinfer writes (one 256-px patch per row
// at the slide's µm/px), for tissue patches only: tumour likely in the left
// half of the tissue, TILs dense in its upper third (p = 1.0 there, the value
// PathLDM's binning lost).
void write_attributes(const std::filesystem::path& path, const tessera::examples::SyntheticSlideSpec& spec) {
  std::ofstream out(path);
  out << "slide,x,y,w,h,mpp,tumor,til\n";
  for (int y = 0; y + 256 <= spec.height; y += 256) {
    for (int x = 0; x + 256 <= spec.width; x += 256) {
      if (!tessera::examples::inside_tissue(spec, x + 128, y + 128)) continue;
      const double tumor = x + 128 < 0.45 * spec.width ? 0.9 : 0.2;
      const double til = y + 128 < spec.height / 3 ? 1.0 : y + 128 < 2 * spec.height / 3 ? 0.5 : 0.1;
      out << "TCGA-XS-0001-01Z-00-DX1," << x << ',' << y << ",256,256," << spec.mpp << ',' << tumor << ',' << til
          << '\n';
    }
  }
  if (!out) throw std::runtime_error("cannot write " + path.string());
}

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
    if (flag == "--width")
      spec.width = value;
    else if (flag == "--height")
      spec.height = value;
    else if (flag == "--seed")
      spec.seed = uint32_t(value);
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
    report << "case_submitter_id,text\n"
           << "TCGA-XS-0001,\"" << kReport << "\"\n";
    if (!report) throw std::runtime_error("cannot write " + (out / "reports.csv").string());
    write_attributes(out / "tile_attributes.csv", spec);
    // The same pixels as the case's second slide, a DICOM series as a
    // DICOM-native scanner writes it: levels at 1x and 4x, a thumbnail and a
    // label.
    const auto dicom = out / "dicom" / "TCGA-XS-0001-01Z-00-DX2";
    tessera::examples::DicomSeriesSpec series;
    series.mpp = spec.mpp;
    series.thumbnail_side = 512;
    series.label = true;
    tessera::examples::write_dicom_series(tessera::examples::read_level0(slide), dicom.string(), series);
    std::cout << slide << '\n'
              << dicom.string() << '\n'
              << (out / "reports.csv").string() << '\n'
              << (out / "tile_attributes.csv").string() << '\n';
  } catch (const std::exception& e) {
    std::cerr << "make_example_slide: " << e.what() << '\n';
    return 1;
  }
  return 0;
}
