#include "slide/slide_discovery.h"

#include <gtest/gtest.h>

#include <fstream>

#include "base/error.h"
#include "test_data.h"

namespace tessera::stages {
namespace {
namespace fs = std::filesystem;

void touch(const fs::path& path, const std::string& content = "x") {
  fs::create_directories(path.parent_path());
  std::ofstream(path) << content;
}

TEST(SlideDiscovery, FoldersAreScannedRecursivelyForSlides) {
  testing::TempDir dir;
  auto spec = testing::small_spec();
  spec.width = 512, spec.height = 512;
  testing::make_slide(dir.path() / "cohort", "b.tiff", spec);
  fs::create_directories(dir / "cohort/sub");
  testing::make_slide(dir.path() / "cohort/sub", "a.tiff", spec);
  touch(dir / "cohort/notes.txt");
  touch(dir / "cohort/broken.svs", "truncated");  // a slide extension: kept, to fail visibly
  touch(dir / "cohort/.hidden/c.svs");
  const auto slides = discover_slides({(dir / "cohort").string()});
  ASSERT_EQ(slides.size(), 3u);
  EXPECT_EQ(slides[0].id, "b");
  EXPECT_EQ(slides[1].id, "broken");
  EXPECT_EQ(slides[2].id, "a");
  EXPECT_EQ(slides[2].path, (dir / "cohort/sub/a.tiff").string());
}

TEST(SlideDiscovery, FilesAreTakenAsGivenAndMissingPathsAreErrors) {
  testing::TempDir dir;
  touch(dir / "x.ndpi");
  const auto slides = discover_slides({(dir / "x.ndpi").string()});
  ASSERT_EQ(slides.size(), 1u);
  EXPECT_EQ(slides[0].id, "x");
  try {
    discover_slides({(dir / "missing.svs").string()});
    FAIL();
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find("missing.svs: no such file or folder"), std::string::npos);
  }
}

TEST(MppOverrides, ParsesAndReportsBadLines) {
  testing::TempDir dir;
  touch(dir / "good.csv", "slide,mpp\nA,0.25\r\nB, 0.5\n\n");
  const auto overrides = read_mpp_overrides((dir / "good.csv").string());
  ASSERT_EQ(overrides.size(), 2u);
  EXPECT_DOUBLE_EQ(overrides.at("A"), 0.25);
  EXPECT_DOUBLE_EQ(overrides.at("B"), 0.5);

  const struct {
    const char* content;
    const char* expected;
  } bad[] = {
      {"slide,microns\nA,0.25\n", "bad.csv:1: the header must name the columns 'slide' and 'mpp'"},
      {"slide,mpp\nA,0.25\nB,abc\n", "bad.csv:3: column 'mpp' is not a positive number: 'abc'"},
      {"slide,mpp\nA,0.25,7\n", "bad.csv:2: expected 2 fields, found 3"},
      {"slide,mpp\nA,0.25\nA,0.3\n", "bad.csv:3: slide 'A' is listed twice"},
      {"slide,mpp\nA,inf\n", "bad.csv:2: column 'mpp' is not a positive number: 'inf'"},
      {"slide,mpp\n", "bad.csv: the header line is followed by no rows"},
  };
  for (const auto& b : bad) {
    touch(dir / "bad.csv", b.content);
    try {
      read_mpp_overrides((dir / "bad.csv").string());
      FAIL() << b.content;
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(b.expected), std::string::npos) << e.what();
    }
  }
}

}  // namespace
}  // namespace tessera::stages
