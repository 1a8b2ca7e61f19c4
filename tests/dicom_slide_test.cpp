// DICOM VL Whole Slide Microscopy series: synthetic series written with DCMTK
// at test time, and CMU-1-Small-Region as a real one when ../shared is here.
#include <gtest/gtest.h>
#include <tiffio.h>

#include <filesystem>
#include <fstream>

#include "base/error.h"
#include "examples/dicom_series_writer.h"
#include "imaging/image_metrics.h"
#include "slide/dicom_series.h"
#include "slide/resolution.h"
#include "slide/slide.h"
#include "slide/slide_discovery.h"
#include "slide/slide_format.h"
#include "slide/thumbnail.h"
#include "test_data.h"

namespace tessera::stages {
namespace {
namespace fs = std::filesystem;
using examples::DicomSeriesSpec;

// The synthetic slide's level 0 (2048 x 1536 at 0.5 µm/px), made once.
const RgbImage& source_pixels() {
  static const RgbImage pixels = [] {
    static testing::TempDir dir;
    return examples::read_level0(testing::make_slide(dir.path(), "source.tiff", testing::small_spec()).string());
  }();
  return pixels;
}

RgbImage crop(const RgbImage& image, int x, int y, int w, int h) {
  RgbImage out(w, h);
  for (int row = 0; row < h; ++row) std::copy_n(image.at(x, y + row), size_t(w) * 3, out.at(0, row));
  return out;
}

fs::path write_series(const fs::path& folder, const DicomSeriesSpec& spec = {}) {
  examples::write_dicom_series(source_pixels(), folder.string(), spec);
  return folder;
}

SlideSource only_source(const fs::path& folder) {
  const auto sources = discover_slides({folder.string()});
  EXPECT_EQ(sources.size(), 1u);
  return sources.at(0);
}

std::string open_error(const SlideSource& source) {
  try {
    Slide::open(source);
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << source.path << " opened";
  return "";
}

bool contains(const std::string& text, const std::string& part) { return text.find(part) != std::string::npos; }

TEST(DicomSlide, ATiledFullSeriesIsAPyramidWithItsPixelSpacing) {
  testing::TempDir dir;
  const auto source = only_source(write_series(dir / "case-7"));
  EXPECT_EQ(source.id, "case-7");  // the folder holds this series alone
  EXPECT_EQ(source.path, (dir / "case-7").string());
  EXPECT_EQ(source.files.size(), 2u);
  const auto slide = Slide::open(source);
  EXPECT_EQ(slide->format(), "dicom");
  ASSERT_EQ(slide->levels().size(), 2u);
  EXPECT_EQ(slide->levels()[0].width, 2048);
  EXPECT_EQ(slide->levels()[0].height, 1536);
  EXPECT_EQ(slide->levels()[1].width, 512);
  EXPECT_DOUBLE_EQ(slide->levels()[1].downsample, 4.0);
  EXPECT_EQ(slide->read_path(0), ReadPath::kDicom);
  EXPECT_EQ(slide->largest_decode_scale(0), 8);
  const auto resolution = resolve_resolution(slide->properties(), {});
  EXPECT_EQ(resolution.source, "dicom");
  EXPECT_NEAR(resolution.mpp_x, 0.5, 1e-9);
  EXPECT_NEAR(resolution.mpp_y, 0.5, 1e-9);
  // A region across four frames, against the pixels the frames were cut from.
  const RgbImage region = slide->read_region(200, 100, 0, 256, 256);
  EXPECT_GE(psnr(region, crop(source_pixels(), 200, 100, 256, 256)), 30.0);
  // Past the edge is white glass, as OpenSlide paints it.
  const RgbImage edge = slide->read_region(2040, 0, 0, 16, 1);
  EXPECT_EQ(edge.at(15, 0)[0], 255);
}

TEST(DicomSlide, TheQuickhashNamesTheSeriesNotTheFolder) {
  testing::TempDir dir;
  const auto a = Slide::open(only_source(write_series(dir / "a")));
  const auto again = Slide::open(only_source(dir / "a"));
  const auto b = Slide::open(only_source(write_series(dir / "b")));
  EXPECT_EQ(a->quickhash().size(), 16u);
  EXPECT_EQ(a->quickhash(), again->quickhash());
  EXPECT_NE(a->quickhash(), b->quickhash());
}

TEST(DicomSlide, JpegFramesDecodeReducedByTheirDct) {
  testing::TempDir dir;
  const auto slide = Slide::open(only_source(write_series(dir / "s")));
  const RgbImage full = slide->read_region(0, 0, 0, 1024, 1024);
  const RgbImage half = slide->read_region(0, 0, 0, 512, 512, 2);
  ASSERT_EQ(half.width, 512);
  // The 1/2 decode is the full decode halved, to within JPEG's scaled-IDCT error.
  RgbImage halved(512, 512);
  for (int y = 0; y < 512; ++y) {
    for (int x = 0; x < 512; ++x) {
      for (int c = 0; c < 3; ++c) {
        const int sum = full.at(2 * x, 2 * y)[c] + full.at(2 * x + 1, 2 * y)[c] + full.at(2 * x, 2 * y + 1)[c] +
                        full.at(2 * x + 1, 2 * y + 1)[c];
        halved.at(x, y)[c] = uint8_t((sum + 2) / 4);
      }
    }
  }
  EXPECT_GE(psnr(half, halved), 30.0);
}

TEST(DicomSlide, Jpeg2000FramesDecodeAtFullAndReducedResolution) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.codec = DicomSeriesSpec::Codec::kJpeg2000;
  const auto slide = Slide::open(only_source(write_series(dir / "j2k", spec)));
  EXPECT_EQ(slide->property("dicom.TransferSyntax"), "JPEG 2000 (Lossless or Lossy)");
  const RgbImage region = slide->read_region(300, 300, 0, 512, 512);
  EXPECT_GE(psnr(region, crop(source_pixels(), 300, 300, 512, 512)), 30.0);
  const RgbImage quarter = slide->read_region(0, 0, 0, 256, 256, 4);
  EXPECT_EQ(quarter.width, 256);
  // The wavelet's 1/4 resolution against the source reduced 4x by libvips:
  // the same picture, not the same filter.
  const auto expected = Slide::open(only_source(dir / "j2k"))->read_region(0, 0, 1, 256, 256);
  EXPECT_GE(psnr(quarter, expected), 25.0);
}

TEST(DicomSlide, ASparseSeriesHasFramesOnlyWhereItsPositionsSayAndGlassElsewhere) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.sparse = true;
  const auto folder = write_series(dir / "sparse", spec);
  const auto slide = Slide::open(only_source(folder));
  EXPECT_EQ(slide->property("dicom.DimensionOrganizationType"), "TILED_SPARSE");
  // The synthetic slide's corner frame is white glass: it was not written.
  const auto instance = read_dicom_instance((folder / "level-0.dcm").string());
  EXPECT_TRUE(instance.sparse);
  EXPECT_LT(instance.frames, 8 * 6);
  EXPECT_EQ(int64_t(instance.positions.size()), instance.frames);
  const RgbImage corner = slide->read_region(0, 0, 0, 256, 256);
  EXPECT_TRUE(std::all_of(corner.pixels.begin(), corner.pixels.end(), [](uint8_t v) { return v == 255; }));
  // Tissue in the middle reads as the pixels it was cut from.
  const RgbImage middle = slide->read_region(768, 512, 0, 512, 512);
  EXPECT_GE(psnr(middle, crop(source_pixels(), 768, 512, 512, 512)), 30.0);
}

TEST(DicomSlide, AConcatenationReadsAsOneLevel) {
  testing::TempDir dir;
  DicomSeriesSpec split;
  split.base_parts = 3;
  const auto folder = write_series(dir / "split", split);
  const auto source = only_source(folder);
  EXPECT_EQ(source.files.size(), 4u);  // three parts of level 0, and level 1
  const auto slide = Slide::open(source);
  ASSERT_EQ(slide->levels().size(), 2u);
  const auto whole = Slide::open(only_source(write_series(dir / "whole")));
  // Frames are encoded alike either way: the pixels are identical.
  EXPECT_EQ(slide->read_region(0, 0, 0, 2048, 1536).pixels, whole->read_region(0, 0, 0, 2048, 1536).pixels);

  fs::remove(folder / "level-0-part-2.dcm");
  const std::string error = open_error(only_source(folder));
  EXPECT_TRUE(contains(error, "is a concatenation of 3 files, of which 2 are here")) << error;
}

TEST(DicomSlide, ATiledFullLevelMissingAFrameIsAnErrorNamingTheFile) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.drop_last_frame = true;
  const auto folder = write_series(dir / "short", spec);
  const std::string error = open_error(only_source(folder));
  EXPECT_TRUE(contains(error, (folder / "level-0.dcm").string())) << error;
  EXPECT_TRUE(contains(error, "needs 48 frames of 256x256, the file(s) hold 47")) << error;
}

TEST(DicomSlide, ATruncatedFileIsAnErrorNamingIt) {
  testing::TempDir dir;
  const auto folder = write_series(dir / "cut");
  const auto file = folder / "level-0.dcm";
  fs::resize_file(file, fs::file_size(file) / 2);
  // The cut file is a slide of its own that fails with DCMTK's reason; the
  // rest of its series fails for want of its base level.
  const auto sources = discover_slides({folder.string()});
  ASSERT_EQ(sources.size(), 2u);
  EXPECT_EQ(sources[0].files, std::vector<std::string>{file.string()});
  const std::string cut = open_error(sources[0]);
  EXPECT_TRUE(contains(cut, file.string() + ": DCMTK cannot read the file: ")) << cut;
  const std::string rest = open_error(sources[1]);
  EXPECT_TRUE(contains(rest, "its base level is missing")) << rest;
}

TEST(DicomSlide, AFileOfASeriesWithoutItsBaseLevelIsRefused) {
  testing::TempDir dir;
  const auto folder = write_series(dir / "levels");
  const auto sources = discover_slides({(folder / "level-1.dcm").string()});
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].id, "level-1");
  const std::string error = open_error(sources[0]);
  EXPECT_TRUE(contains(error, "its base level is missing")) << error;
  EXPECT_TRUE(contains(error, "RESAMPLED")) << error;
}

TEST(DicomSlide, AnAssociatedImageGivenAsASlideIsNamedAsSuch) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.label = true;
  spec.thumbnail_side = 512;
  const auto folder = write_series(dir / "with-label", spec);
  const auto label = discover_slides({(folder / "label.dcm").string()});
  const std::string error = open_error(label.at(0));
  EXPECT_TRUE(contains(error, "has no VOLUME image, only: LABEL")) << error;
  // In the whole series the label and thumbnail stay out of the pyramid.
  const auto slide = Slide::open(only_source(folder));
  EXPECT_EQ(slide->levels().size(), 2u);
  ASSERT_NE(slide->thumbnail_image(), nullptr);
  EXPECT_EQ(slide->thumbnail_image()->width(), 512);
}

TEST(DicomSlide, TheThumbnailImageServesTheTissueMask) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.thumbnail_side = 512;
  spec.downsamples = {1};
  const auto slide = Slide::open(only_source(write_series(dir / "thumb", spec)));
  const auto source = thumbnail_source(*slide, 512);
  EXPECT_TRUE(source.thumbnail_image);
  const auto thumbnail = read_thumbnail(*slide, 512);
  EXPECT_EQ(thumbnail.image.width, 512);
  EXPECT_EQ(thumbnail.image.height, 384);
  EXPECT_DOUBLE_EQ(thumbnail.scale_x, 4.0);
  // Without one, level 0 is decoded at 1/4 for it.
  spec.thumbnail_side = 0;
  const auto plain = Slide::open(only_source(write_series(dir / "plain", spec)));
  EXPECT_FALSE(thumbnail_source(*plain, 512).thumbnail_image);
  EXPECT_EQ(thumbnail_source(*plain, 512).decode_scale, 4);
  EXPECT_GE(psnr(read_thumbnail(*plain, 512).image, thumbnail.image), 25.0);
}

TEST(DicomSlide, AFluorescenceOnlySeriesIsAClearError) {
  testing::TempDir dir;
  DicomSeriesSpec spec;
  spec.fluorescence = true;
  const std::string error = open_error(only_source(write_series(dir / "if", spec)));
  EXPECT_TRUE(contains(error, "a fluorescence-only series")) << error;
}

TEST(DicomSlide, SeriesAreGroupedByUidAndNamedByTheStatedRule) {
  testing::TempDir dir;
  DicomSeriesSpec first, second, barcoded;
  first.series_uid = "1.2.3.1";
  second.series_uid = "1.2.3.2";
  barcoded.container_id = "TCGA-AA-0001-01Z-00-DX1";
  write_series(dir / "mixed", first);
  examples::write_dicom_series(source_pixels(), (dir / "mixed" / "other").string(), second);
  write_series(dir / "named", barcoded);
  auto sources = discover_slides({(dir / "mixed").string(), (dir / "named").string()});
  ASSERT_EQ(sources.size(), 3u);
  // "mixed" holds the first series and, in a subfolder, the second: each in a
  // folder of its own, so each is named by its folder.
  EXPECT_EQ(sources[0].id, "mixed");
  EXPECT_EQ(sources[1].id, "other");
  EXPECT_EQ(sources[2].id, "TCGA-AA-0001-01Z-00-DX1");

  // Two series whose files share one folder are named by their UIDs.
  examples::write_dicom_series(source_pixels(), (dir / "flat").string(), first);
  for (const auto& f : {"level-0.dcm", "level-1.dcm"}) {
    fs::copy_file(dir / "mixed" / "other" / f, dir / "flat" / (std::string("b-") + f));
  }
  sources = discover_slides({(dir / "flat").string()});
  ASSERT_EQ(sources.size(), 2u);
  // In the order of their first files: b-level-0.dcm is the second series'.
  EXPECT_EQ(sources[0].id, "1.2.3.2");
  EXPECT_EQ(sources[1].id, "1.2.3.1");
  EXPECT_EQ(sources[0].files.size(), 2u);
  EXPECT_EQ(Slide::open(sources[0])->levels().size(), 2u);
}

TEST(SlideFormat, UnsupportedFormatsAreNamed) {
  testing::TempDir dir;
  // A TIFF in strips: a plain image.
  TIFF* tiff = TIFFOpen((dir / "scan.tif").c_str(), "w");
  TIFFSetField(tiff, TIFFTAG_IMAGEWIDTH, 8);
  TIFFSetField(tiff, TIFFTAG_IMAGELENGTH, 8);
  TIFFSetField(tiff, TIFFTAG_SAMPLESPERPIXEL, 3);
  TIFFSetField(tiff, TIFFTAG_BITSPERSAMPLE, 8);
  TIFFSetField(tiff, TIFFTAG_PHOTOMETRIC, PHOTOMETRIC_RGB);
  TIFFSetField(tiff, TIFFTAG_ROWSPERSTRIP, 8);
  std::vector<uint8_t> row(24, 200);
  for (uint32_t y = 0; y < 8; ++y) TIFFWriteScanline(tiff, row.data(), y, 0);
  TIFFClose(tiff);
  const auto strips = unsupported_format_reason((dir / "scan.tif").string());
  ASSERT_TRUE(strips);
  EXPECT_TRUE(contains(*strips, "a TIFF stored in strips, not tiles")) << *strips;
  EXPECT_TRUE(contains(*strips, kReadableFormats));
  fs::copy_file(dir / "scan.tif", dir / "multiplex.qptiff");
  EXPECT_TRUE(contains(*unsupported_format_reason((dir / "multiplex.qptiff").string()), "QPTIFF"));
  std::ofstream(dir / "slide.vsi") << "not tiff";
  EXPECT_TRUE(contains(*unsupported_format_reason((dir / "slide.vsi").string()), "Olympus/Evident VSI"));
  std::ofstream(dir / "stack.czi") << "ZISRAWFILE and more";
  EXPECT_TRUE(contains(*unsupported_format_reason((dir / "stack.czi").string()), "Zeiss CZI"));
  std::ofstream(dir / "notes.svs") << "plain words";
  EXPECT_FALSE(unsupported_format_reason((dir / "notes.svs").string()));
  // And Slide::open says so.
  try {
    Slide::open((dir / "slide.vsi").string());
    ADD_FAILURE() << "a VSI file opened";
  } catch (const Error& e) {
    EXPECT_TRUE(contains(e.what(), (dir / "slide.vsi").string() + ": an Olympus/Evident VSI")) << e.what();
  }
}

TEST(DicomSlide, CmuSmallRegionAsDicomHasTheSvsPixels) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto sources = discover_slides({(data / "slides/dicom-cmu-1-small-region").string()});
  ASSERT_EQ(sources.size(), 1u);
  EXPECT_EQ(sources[0].id, "dicom-cmu-1-small-region");
  EXPECT_EQ(sources[0].files.size(), 12u);
  const auto dicom = Slide::open(sources[0]);
  const auto svs = Slide::open((data / "slides/CMU-1-Small-Region.svs").string());
  ASSERT_EQ(dicom->levels().size(), 12u);
  EXPECT_EQ(dicom->levels()[0].width, svs->levels()[0].width);
  EXPECT_EQ(dicom->levels()[0].height, svs->levels()[0].height);
  EXPECT_EQ(dicom->levels()[1].width, 1110);
  const auto resolution = resolve_resolution(dicom->properties(), {});
  EXPECT_EQ(resolution.source, "dicom");
  EXPECT_DOUBLE_EQ(resolution.mpp_x, 0.499);
  // The converter re-encoded the SVS's 4:4:4 tiles as 4:2:0 JPEG: near, not
  // equal, and nearest on glass. Its frames say RGB and carry a JFIF marker:
  // decoded as YCbCr, as JFIF says (as RGB they are 11 dB off).
  const RgbImage a = dicom->read_region(0, 0, 0, 2220, 2967);
  const RgbImage b = svs->read_region(0, 0, 0, 2220, 2967);
  EXPECT_GE(psnr(a, b), 31.0);
  const RgbImage tissue_a = dicom->read_region(700, 1200, 0, 512, 512);
  const RgbImage tissue_b = svs->read_region(700, 1200, 0, 512, 512);
  EXPECT_GE(psnr(tissue_a, tissue_b), 27.0);
}

}  // namespace
}  // namespace tessera::stages
