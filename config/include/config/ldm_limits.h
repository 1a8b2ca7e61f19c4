#pragma once

// The bounds on an LDM config's whole-number keys; config/ldm_config.cpp
// checks every one and names the file and the key. Each sits far above every
// published CompVis, PathLDM and Stable Diffusion config, and low enough that
// a mistyped value is refused by its key before it becomes an allocation
// while the network is built.

#include <cstdint>

namespace tessera::config {

// Channels and widths: ch, in_channels, out_ch, z_channels, embed_dim,
// model_channels, the UNet's in/out_channels, context_dim, head counts and
// widths, and each level's width ch × ch_mult (Stable Diffusion's widest
// level has 1280 channels).
inline constexpr int64_t kMaxChannels = 8192;
// A VQ codebook's entries, n_embed (the largest published: 16384).
inline constexpr int64_t kMaxCodebookSize = int64_t{1} << 20;
// Repeats: num_res_blocks, transformer_depth and the levels of ch_mult or
// channel_mult (published configs: at most 4 and 5).
inline constexpr int64_t kMaxDepth = 64;
// Image and latent sides: resolution, image_size (Stable Diffusion's: 512 and 64).
inline constexpr int64_t kMaxSide = 16384;
// Diffusion timesteps (upstream's: 1000), and so the most DDIM steps.
inline constexpr int64_t kMaxTimesteps = 100000;
// Step counts: the learning-rate schedule's warm_up_steps and cycle_lengths
// (Stable Diffusion's configs write 10^13 for "never"), and the training
// block's intervals; sums of them stay far from overflowing.
inline constexpr int64_t kMaxScheduleSteps = 1'000'000'000'000'000;
// Samples per model call: training.batch_size, and the micro-batches a step
// accumulates (runtime::kMaxModelBatch is this bound). Far above what fits a
// GPU; it catches a mistyped number before it becomes an allocation.
inline constexpr int64_t kMaxBatchSize = 4096;

}  // namespace tessera::config
