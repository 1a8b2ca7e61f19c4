#include "imaging/jpeg_codec.h"

#include <gtest/gtest.h>

#include <cmath>
#include <random>

#include "base/error.h"
#include "imaging/image_metrics.h"

namespace tessera::stages {
namespace {

RgbImage textured(int size) {
  RgbImage image(size, size);
  std::mt19937 rng(3);
  std::normal_distribution<float> noise(0, 6);
  for (int y = 0; y < size; ++y)
    for (int x = 0; x < size; ++x) {
      const float wave = 40.f * std::sin(x * 0.2f) * std::cos(y * 0.15f);
      uint8_t* p = image.at(x, y);
      p[0] = uint8_t(std::clamp(200 + wave + noise(rng), 0.f, 255.f));
      p[1] = uint8_t(std::clamp(120 + wave + noise(rng), 0.f, 255.f));
      p[2] = uint8_t(std::clamp(180 - wave + noise(rng), 0.f, 255.f));
    }
  return image;
}

TEST(JpegCodec, RoundTripKeepsGeometryAndFidelity) {
  const auto image = textured(256);
  const auto bytes = encode_jpeg(image, {90});
  EXPECT_LT(bytes.size(), image.pixels.size() / 2);
  const auto decoded = decode_jpeg(bytes);
  ASSERT_EQ(decoded.width, 256);
  ASSERT_EQ(decoded.height, 256);
  EXPECT_GT(psnr(image, decoded), 33.0);
}

TEST(JpegCodec, HigherQualityIsLargerAndCloser) {
  const auto image = textured(256);
  const auto low = encode_jpeg(image, {60});
  const auto high = encode_jpeg(image, {95});
  EXPECT_LT(low.size(), high.size());
  EXPECT_LT(psnr(image, decode_jpeg(low)), psnr(image, decode_jpeg(high)));
}

TEST(ImageMetrics, PsnrHasKnownValues) {
  RgbImage a(10, 10, 100), b(10, 10, 100);
  EXPECT_TRUE(std::isinf(psnr(a, b)));
  b.pixels[0] = 99;  // one error of 1 over 300 samples
  EXPECT_NEAR(psnr(a, b), 10 * std::log10(255.0 * 255.0 * 300), 1e-9);
  EXPECT_THROW(psnr(a, RgbImage(5, 5)), Error);
}

TEST(JpegCodec, GarbageIsAnError) {
  EXPECT_THROW(decode_jpeg("not a jpeg at all"), Error);
  auto bytes = encode_jpeg(textured(64), {90});
  bytes.resize(10);
  EXPECT_THROW(decode_jpeg(bytes), Error);
}

}  // namespace
}  // namespace tessera::stages
