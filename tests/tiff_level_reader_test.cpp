#include "slide/tiff_level_reader.h"

#include <gtest/gtest.h>
#include <tiffio.h>

#include <cmath>
#include <cstring>

#include "base/error.h"
#include "imaging/image_metrics.h"
#include "slide/jpeg_tile_decoder.h"
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

// libvips writes JPEG of RGB components (photometric RGB), as CMU-1's
// scanner did; this slide's tiles are YCbCr with 4:2:0 chroma instead.
std::filesystem::path make_ycbcr_slide(const std::filesystem::path& dir) {
  auto spec = testing::small_spec();
  spec.level_downsamples = {1, 4};
  return testing::make_slide(dir, "ycbcr.tiff", spec);
}

// Each tile of directory 0 decoded by JpegTileDecoder at full size, against
// libtiff's own decode of it.
void expect_decoder_matches_libtiff(const std::string& path, bool ycbcr) {
  TIFF* tiff = TIFFOpen(path.c_str(), "r");
  ASSERT_NE(tiff, nullptr);
  uint16_t photometric = 0;
  TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
  EXPECT_EQ(photometric == PHOTOMETRIC_YCBCR, ycbcr);
  const auto decoder = JpegTileDecoder::for_directory(tiff);
  if (ycbcr) TIFFSetField(tiff, TIFFTAG_JPEGCOLORMODE, JPEGCOLORMODE_RGB);
  uint32_t tw = 0, th = 0;
  TIFFGetField(tiff, TIFFTAG_TILEWIDTH, &tw);
  TIFFGetField(tiff, TIFFTAG_TILELENGTH, &th);
  std::vector<uint8_t> expected(size_t(tw) * th * 3), got(expected.size()), compressed;
  for (uint32_t i = 0; i < TIFFNumberOfTiles(tiff); ++i) {
    ASSERT_EQ(TIFFReadEncodedTile(tiff, i, expected.data(), tmsize_t(expected.size())), tmsize_t(expected.size()));
    compressed.resize(size_t(TIFFGetStrileByteCount(tiff, i)));
    ASSERT_EQ(TIFFReadRawTile(tiff, i, compressed.data(), tmsize_t(compressed.size())), tmsize_t(compressed.size()));
    std::string error;
    ASSERT_TRUE(decoder->decode(compressed.data(), compressed.size(), 1, got.data(), int(tw), int(th), error)) << error;
    ASSERT_TRUE(got == expected) << path << " tile " << i;
  }
  TIFFClose(tiff);
}

TEST(JpegTileDecoder, AtFullSizeDecodesWhatLibtiffDecodes) {
  testing::TempDir dir;
  expect_decoder_matches_libtiff(testing::make_slide(dir.path(), "s.tiff", testing::small_spec()).string(), false);
  expect_decoder_matches_libtiff(make_ycbcr_slide(dir.path()).string(), true);
}

TEST(JpegTileDecoder, AtFullSizeDecodesAperioTilesAsLibtiffDoes) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto svs = (data / "slides/CMU-1-Small-Region.svs").string();
  TIFF* tiff = TIFFOpen(svs.c_str(), "r");
  ASSERT_NE(tiff, nullptr);
  uint16_t photometric = 0;
  TIFFGetField(tiff, TIFFTAG_PHOTOMETRIC, &photometric);
  TIFFClose(tiff);
  EXPECT_EQ(photometric, PHOTOMETRIC_RGB);
  expect_decoder_matches_libtiff(svs, false);
}

// The full decode averaged over scale x scale blocks: what a reduced decode
// approximates.
RgbImage box_reduced(const RgbImage& full, int scale) {
  RgbImage out(full.width / scale, full.height / scale);
  for (int y = 0; y < out.height; ++y) {
    for (int x = 0; x < out.width; ++x) {
      for (int c = 0; c < 3; ++c) {
        int sum = 0;
        for (int dy = 0; dy < scale; ++dy)
          for (int dx = 0; dx < scale; ++dx) sum += full.at(x * scale + dx, y * scale + dy)[c];
        out.at(x, y)[c] = uint8_t((sum + scale * scale / 2) / (scale * scale));
      }
    }
  }
  return out;
}

void expect_reduced_decodes_close_to_the_full_decode(const std::string& path, double min_psnr) {
  const auto reader = TiffLevelReader::probe(path, "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  EXPECT_EQ(reader->largest_decode_scale(), 8);
  const RgbImage full = reader->read(0, 0, 2048, 1536);
  for (const int scale : {2, 4, 8}) {
    SCOPED_TRACE(path + " at 1/" + std::to_string(scale));
    const RgbImage reduced = reader->read(0, 0, 2048 / scale, 1536 / scale, scale);
    EXPECT_GE(psnr(reduced, box_reduced(full, scale)), min_psnr);
    // A region across tile boundaries is the same pixels as the whole read.
    const RgbImage part = reader->read(100 / scale, 300 / scale, 200, 150, scale);
    for (int y = 0; y < part.height; ++y) {
      ASSERT_EQ(std::memcmp(part.at(0, y), reduced.at(100 / scale, 300 / scale + y), 200 * 3), 0) << "row " << y;
    }
  }
}

TEST(TiffLevelReader, ReducedDecodesAreTheFullDecodeReduced) {
  testing::TempDir dir;
  expect_reduced_decodes_close_to_the_full_decode(
      testing::make_slide(dir.path(), "s.tiff", testing::small_spec()).string(), 40);
  expect_reduced_decodes_close_to_the_full_decode(make_ycbcr_slide(dir.path()).string(), 40);
}

TEST(TiffLevelReader, AReducedReadPastTheEdgeIsWhite) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  const auto reader = TiffLevelReader::probe(path.string(), "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  // At 1/4 the level is 512 x 384: the region's right 28 columns and bottom 16 rows lie outside.
  const RgbImage region = reader->read(512 - 100, 384 - 80, 128, 96, 4);
  const RgbImage inside = reader->read(512 - 100, 384 - 80, 100, 80, 4);
  for (int y = 0; y < 96; ++y) {
    for (int x = 0; x < 128; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int expected = x < 100 && y < 80 ? inside.at(x, y)[c] : 255;
        ASSERT_EQ(region.at(x, y)[c], expected) << x << "," << y;
      }
    }
  }
}

TEST(TiffLevelReader, AScaleTheTilesDoNotAllowIsRefused) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  const auto reader = TiffLevelReader::probe(path.string(), "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  for (const int scale : {0, 3, 16}) {
    try {
      reader->read(0, 0, 16, 16, scale);
      FAIL() << "scale " << scale << " was accepted";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find("cannot be decoded at 1/" + std::to_string(scale)), std::string::npos)
          << e.what();
    }
  }
}

TEST(TiffLevelReader, ACorruptTileFailsAReducedReadNamingTheFileAndScale) {
  testing::TempDir dir;
  const auto path = testing::make_slide(dir.path(), "s.tiff", testing::small_spec());
  testing::damage_level0_tiles(path);
  const auto reader = TiffLevelReader::probe(path.string(), "generic-tiff", 2048, 1536);
  ASSERT_TRUE(reader);
  try {
    reader->read(0, 0, 128, 128, 2);
    FAIL() << "a damaged tile decoded";
  } catch (const Error& e) {
    const std::string what = e.what();
    EXPECT_NE(what.find(path.string() + ": cannot decode tile 0 of directory 0 at 1/2 (JPEG: "), std::string::npos)
        << what;
  }
}

}  // namespace
}  // namespace tessera::stages
