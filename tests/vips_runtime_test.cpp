#include "imaging/vips_runtime.h"

#include <gtest/gtest.h>

#include <filesystem>
#include <random>

#include "base/error.h"
#include "imaging/image_file.h"
#include "test_data.h"

namespace tessera::stages {
namespace {
namespace fs = std::filesystem;

RgbImage noise(int size) {
  RgbImage image(size, size);
  std::mt19937 rng(11);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x)
      for (int c = 0; c < 3; ++c) image.at(x, y)[c] = uint8_t(rng());
  return image;
}

TEST(SavePng, WritesAnImageThatReadsBackTheSame) {
  ensure_vips();
  testing::TempDir dir;
  const RgbImage image = noise(32);
  const fs::path path = dir / "a.png";
  save_png(image, path.string());
  const RgbImage back = read_image(path.string());
  ASSERT_EQ(back.width, 32);
  ASSERT_EQ(back.height, 32);
  EXPECT_EQ(back.pixels, image.pixels);
  EXPECT_FALSE(fs::exists(dir / "a.png.partial"));
}

// A full disk, as a file size limit: the write stops part way, and neither a
// part of the PNG under its final name nor its temporary is left.
TEST(SavePng, AWriteThatFailsLeavesNoPartOfThePicture) {
  ensure_vips();
  testing::TempDir dir;
  const fs::path path = dir / "big.png";
  const RgbImage image = noise(256);  // incompressible: about 196 KB
  const auto error = testing::error_on_a_full_disk([&] { save_png(image, path.string()); }, 4096);
  ASSERT_TRUE(error) << "the write did not fail";
  EXPECT_NE(error->find("big.png"), std::string::npos) << *error;
  EXPECT_FALSE(fs::exists(path)) << "a part of the picture under its final name";
  EXPECT_FALSE(fs::exists(dir / "big.png.partial"));
}

}  // namespace
}  // namespace tessera::stages
