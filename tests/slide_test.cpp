#include "slide/slide.h"

#include <gtest/gtest.h>
#include <unistd.h>

#include <fstream>

#include "base/error.h"
#include "slide/slide_format.h"
#include "test_data.h"

namespace tessera::stages {
namespace {
namespace fs = std::filesystem;

std::string open_error(const fs::path& path) {
  try {
    Slide::open(path.string());
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << path << " opened";
  return "";
}

TEST(Slide, AFileThatCannotBeASlideIsRefusedWithItsCause) {
  testing::TempDir dir;
  EXPECT_EQ(open_error(dir / "gone.svs"), (dir / "gone.svs").string() + ": the file is missing");
  std::ofstream(dir / "empty.tiff").close();
  EXPECT_EQ(open_error(dir / "empty.tiff"), (dir / "empty.tiff").string() + ": the file is empty (0 bytes)");
  fs::create_directories(dir / "folder.svs");
  EXPECT_EQ(open_error(dir / "folder.svs"), (dir / "folder.svs").string() + ": not a regular file");
  std::ofstream(dir / "text.svs") << "not a slide";
  EXPECT_EQ(open_error(dir / "text.svs"), (dir / "text.svs").string() +
                                              ": OpenSlide cannot open it: the file is damaged, or not the format its "
                                              "extension says");
  std::ofstream(dir / "text.dat") << "not a slide";
  EXPECT_EQ(open_error(dir / "text.dat"),
            (dir / "text.dat").string() + ": not a slide format tessera reads; " + kReadableFormats);
}

TEST(Slide, AnUnreadableFileIsRefusedAsPermissionDenied) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads files whatever their mode";
  testing::TempDir dir;
  const auto slide = testing::make_slide(dir.path(), "locked.tiff", testing::small_spec());
  fs::permissions(slide, fs::perms::none);
  EXPECT_EQ(open_error(slide), slide.string() + ": cannot read the file: Permission denied");
  fs::permissions(slide, fs::perms::owner_read | fs::perms::owner_write);
}

}  // namespace
}  // namespace tessera::stages
