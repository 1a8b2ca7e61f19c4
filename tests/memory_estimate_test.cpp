// The memory a batch needs, estimated before the run, and fitting a batch to
// the memory there is (runtime/memory_estimate.h, runtime/memory_budget.h).

#include "runtime/memory_estimate.h"

#include <gtest/gtest.h>

#include <cstdlib>

#include "base/error.h"
#include "runtime/memory_budget.h"

namespace tessera::runtime {
namespace {

// schemas/ldm/tiny-kl.yaml's ddconfig.
model::AutoencoderConfig tiny_kl() {
  model::AutoencoderConfig config;
  config.ch = 32;
  config.ch_mult = {1, 2};
  config.num_res_blocks = 1;
  config.resolution = 32;
  return config;
}

TEST(MemoryEstimateTest, TinyKlOn256PxTilesAtBatch16) {
  // The case that grew to 24 GB before attention was chunked: level 0 at
  // 256 x 256 with 32 channels, level 1 and the mid block at 128 x 128 with 64.
  const uint64_t level0_resnet = 6 * 32 * 256 * 256 * 4;           // 48 MiB a tile
  const uint64_t mid_attention = 9 * 64 * 128 * 128 * 4;           // 36 MiB a tile
  const uint64_t rows = (uint64_t{256} << 20) / (16 * 16384 * 4);  // 256 query rows of 1 MiB
  const uint64_t scores = 2 * 16 * rows * 16384 * 4;               // 512 MiB for the batch
  const uint64_t input = 3 * 256 * 256 * (2 + 4);
  ASSERT_GT(16 * mid_attention + scores, 16 * level0_resnet);  // the attention stage is the peak
  EXPECT_EQ(encode_peak_bytes(tiny_kl(), 256, 16), 16 * mid_attention + scores + 16 * input);
  // About 1.1 GiB, where the whole score matrix alone was 16 GiB.
  EXPECT_LT(encode_peak_bytes(tiny_kl(), 256, 16), uint64_t{2} << 30);
}

TEST(MemoryEstimateTest, WithinAFactorOfTheMeasuredPeak) {
  // tessera encode of one 256-px tile with tiny-kl.yaml on the CPU, --threads 1:
  // maximum resident set 763,704 kB (/usr/bin/time -v), less 185,784 kB for
  // the same command with nothing to encode (LibTorch, the weights, the store).
  constexpr double kMeasuredBytes = (763704.0 - 185784.0) * 1024;
  constexpr double kFactor = 1.5;
  const double estimate = double(encode_peak_bytes(tiny_kl(), 256, 1));
  EXPECT_LE(estimate, kMeasuredBytes * kFactor);
  EXPECT_GE(estimate, kMeasuredBytes / kFactor);
}

TEST(MemoryEstimateTest, GrowsWithTheBatchAndTheTileSide) {
  for (size_t batch = 1; batch < 64; ++batch) {
    EXPECT_LE(encode_peak_bytes(tiny_kl(), 256, batch), encode_peak_bytes(tiny_kl(), 256, batch + 1)) << batch;
  }
  EXPECT_LT(encode_peak_bytes(tiny_kl(), 64, 4), encode_peak_bytes(tiny_kl(), 128, 4));
  EXPECT_LT(encode_peak_bytes(tiny_kl(), 128, 4), encode_peak_bytes(tiny_kl(), 512, 4));
  // Attention at a level counts where the config asks for it.
  model::AutoencoderConfig attended = tiny_kl();
  attended.attn_resolutions = {32};
  EXPECT_GT(encode_peak_bytes(attended, 256, 4), encode_peak_bytes(tiny_kl(), 256, 4));
}

TEST(MemoryBudgetTest, FitsTheLargestBatchThatFits) {
  const auto peak = [](size_t batch) { return uint64_t(100 + 10 * batch); };
  const BatchFit all = fit_batch(16, peak, {1000, "test"}, "encoding");
  EXPECT_EQ(all.batch, 16u);
  EXPECT_EQ(all.requested_bytes, 260u);
  const BatchFit lowered = fit_batch(16, peak, {155, "test"}, "encoding");
  EXPECT_EQ(lowered.batch, 5u);
  EXPECT_EQ(lowered.requested_bytes, 260u);
  EXPECT_EQ(lowered.fitted_bytes, 150u);
  try {
    (void)fit_batch(16, peak, {109, "the test's figure"}, "encoding 64 px tiles");
    FAIL() << "a budget below one item is refused";
  } catch (const Error& e) {
    EXPECT_STREQ(e.what(),
                 "encoding 64 px tiles: a batch of one needs about 110 bytes of memory at its peak, but 109 bytes is "
                 "available (the test's figure)");
  }
}

TEST(MemoryBudgetTest, TheVariableOverridesTheAvailableMemory) {
  ASSERT_EQ(setenv(kMemoryBudgetVariable, "123456", 1), 0);
  const AvailableMemory set = available_host_memory();
  EXPECT_EQ(set.bytes, 123456u);
  EXPECT_EQ(set.source, kMemoryBudgetVariable);
  for (const char* bad : {"", "12x", "-5", "0", "1e9"}) {
    ASSERT_EQ(setenv(kMemoryBudgetVariable, bad, 1), 0);
    try {
      (void)available_host_memory();
      ADD_FAILURE() << "accepted '" << bad << "'";
    } catch (const Error& e) {
      EXPECT_NE(std::string(e.what()).find(std::string(kMemoryBudgetVariable) + "='" + bad + "'"), std::string::npos)
          << e.what();
    }
  }
  ASSERT_EQ(unsetenv(kMemoryBudgetVariable), 0);
  const AvailableMemory machine = available_host_memory();
  EXPECT_GT(machine.bytes, 0u);
  EXPECT_EQ(machine.source, "MemAvailable in /proc/meminfo");
}

TEST(MemoryBudgetTest, FormatsSizes) {
  EXPECT_EQ(format_bytes(512), "512 bytes");
  EXPECT_EQ(format_bytes(1536), "1.5 KiB");
  EXPECT_EQ(format_bytes(uint64_t{3} << 30), "3.0 GiB");
}

}  // namespace
}  // namespace tessera::runtime
