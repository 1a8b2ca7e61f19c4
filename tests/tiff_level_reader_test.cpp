#include "slide/tiff_level_reader.h"

#include <gtest/gtest.h>

#include "base/error.h"
#include "slide/slide.h"
#include "test_data.h"

namespace tessera::stages {
namespace {

// Regions inside, straddling tiles, and running past the image's edge.
void expect_same_pixels_as_openslide(const std::string& path, int level) {
  const auto direct = Slide::open(path, /*direct_tiff=*/true);
  const auto openslide = Slide::open(path, /*direct_tiff=*/false);
  ASSERT_TRUE(direct->reads_directly(level));
  ASSERT_FALSE(openslide->reads_directly(level));
  const auto& l = direct->levels()[size_t(level)];
  const int64_t ds = int64_t(l.downsample);
  const int64_t regions[][4] = {{0, 0, 256, 256},
                                {100 * ds, 38 * ds, 300, 200},
                                {(l.width / 2) * ds, (l.height / 2) * ds, 256, 256},
                                {(l.width - 150) * ds, (l.height - 90) * ds, 300, 300}};
  for (const auto& r : regions) {
    SCOPED_TRACE(path + " level " + std::to_string(level) + " at " + std::to_string(r[0]) + "," + std::to_string(r[1]));
    const auto a = direct->read_region(r[0], r[1], level, r[2], r[3]);
    const auto b = openslide->read_region(r[0], r[1], level, r[2], r[3]);
    ASSERT_EQ(a.pixels.size(), b.pixels.size());
    EXPECT_TRUE(a.pixels == b.pixels);
  }
}

TEST(TiffLevelReader, SameBytesAsOpenSlideOnGenericTiff) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  expect_same_pixels_as_openslide(path.string(), 0);
  expect_same_pixels_as_openslide(path.string(), 1);
}

TEST(TiffLevelReader, SameBytesAsOpenSlideOnAperio) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  expect_same_pixels_as_openslide((data / "slides/CMU-1-Small-Region.svs").string(), 0);
}

TEST(TiffLevelReader, OnlyPlainTiffVendorsAreReadDirectly) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto ndpi = Slide::open((data / "slides/stritt_test3-DAPI-2-387.ndpi").string());
  for (size_t level = 0; level < ndpi->levels().size(); ++level) EXPECT_FALSE(ndpi->reads_directly(int(level)));
}

TEST(TiffLevelReader, ProbeDeclinesWhatItCannotRead) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  EXPECT_FALSE(TiffLevelReader::probe(path.string(), "hamamatsu", 2048, 1536));
  EXPECT_FALSE(TiffLevelReader::probe(path.string(), "generic-tiff", 2047, 1536));
  const auto reader = TiffLevelReader::probe(path.string(), "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->directory(), 0);
  EXPECT_EQ(reader->tile_width(), 256u);
}

TEST(TiffLevelReader, CorruptTileDataIsAnErrorNamingTheFile) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  const auto reader = TiffLevelReader::probe(path.string(), "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  // Cut the file so that the level-0 tiles at the end point past its end.
  std::filesystem::resize_file(path, std::filesystem::file_size(path) / 4);
  try {
    reader->read(2048 - 256, 1536 - 256, 256, 256);
    FAIL() << "a truncated tile must not decode";
  } catch (const Error& e) {
    EXPECT_NE(std::string(e.what()).find(path.string()), std::string::npos) << e.what();
  }
}

}  // namespace
}  // namespace tessera::stages
