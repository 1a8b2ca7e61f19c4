#include "slide/tile_reader.h"

#include <gtest/gtest.h>

#include <random>
#include <thread>
#include <vector>

#include "imaging/vips_runtime.h"

namespace tessera::stages {
namespace {

RgbImage texture(int side, uint32_t seed) {
  RgbImage image(side, side);
  std::mt19937 rng(seed);
  for (auto& p : image.pixels) p = uint8_t(rng());
  return image;
}

// Issue 14: libvips built and freed an orc program for each resample, and
// liborc's code allocator is not thread-safe, so reader threads resampling at
// once corrupted the heap. Every thread must get the pixels one thread gets.
// Small images: the race is in building each resample, not in its pixels, so
// this makes many builds quickly (with orc on, it crashed within 2 runs).
TEST(TileReader, ResamplesOnManyThreadsAtOnceGiveTheSerialPixels) {
  ensure_vips();
  constexpr int kThreads = 8;
  constexpr int kResamplesPerThread = 1500;
  std::vector<RgbImage> sources, serial;
  for (int i = 0; i < kThreads; ++i) {
    sources.push_back(texture(65, uint32_t(i)));
    serial.push_back(resample_to(sources.back(), 32, 32));
  }
  std::vector<int> mismatches(kThreads, 0);
  std::vector<std::thread> threads;
  for (int t = 0; t < kThreads; ++t) {
    threads.emplace_back([&, t] {
      for (int i = 0; i < kResamplesPerThread; ++i) {
        const int k = (t + i) % kThreads;
        if (resample_to(sources[size_t(k)], 32, 32).pixels != serial[size_t(k)].pixels) ++mismatches[size_t(t)];
      }
    });
  }
  for (auto& thread : threads) thread.join();
  for (int t = 0; t < kThreads; ++t) EXPECT_EQ(mismatches[size_t(t)], 0) << "thread " << t;
}

TEST(TileReader, ResamplesToExactlyTheAskedSize) {
  ensure_vips();
  const RgbImage out = resample_to(texture(282, 1), 256, 256);
  EXPECT_EQ(out.width, 256);
  EXPECT_EQ(out.height, 256);
  // A flat image stays flat: Lanczos3 weights sum to one.
  const RgbImage flat = resample_to(RgbImage(513, 513, 200), 256, 256);
  for (const uint8_t p : flat.pixels) ASSERT_EQ(p, 200);
}

}  // namespace
}  // namespace tessera::stages
