#pragma once

// The bounds on an LDM config's whole-number keys; config/ldm_config.cpp
// checks every one and names the file and the key. Each sits far above every
// published CompVis, PathLDM and Stable Diffusion config, and low enough that
// a mistyped value is refused by its key before it becomes an allocation
// while the network is built.

#include <cstdint>

#include "model/size_limits.h"

namespace tessera::config {

// Channels and widths: ch, in_channels, out_ch, z_channels, embed_dim,
// model_channels, the UNet's in/out_channels, context_dim, head counts and
// widths, and each level's width ch × ch_mult.
using model::kMaxChannels;
// A VQ codebook's entries, n_embed.
inline constexpr int64_t kMaxCodebookSize = model::kMaxTableEntries;
// Repeats: num_res_blocks, transformer_depth and the levels of ch_mult or
// channel_mult.
using model::kMaxDepth;
// Image and latent sides: resolution, image_size.
using model::kMaxSide;
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

// DDIM's η runs from 0 (deterministic) to 1 (DDPM's posterior variance); past
// 1, 1 - a_prev - σ² turns negative at some step of any schedule.
inline constexpr double kMaxDdimEta = 1.0;
// The largest classifier-free guidance scale (generate --guidance, the
// training block's sample_guidance): several times the largest in use (Stable
// Diffusion's 7.5, PathLDM's 1.5 to 3); past it every image is saturated noise.
inline constexpr double kMaxGuidance = 50.0;
// The largest learning rate (base_learning_rate, train-vae --lr): Adam moves
// a weight by about the rate each step, and trained weights are of order 1
// (upstream trains LDMs at 1e-6 to 1e-4 and fine-tunes autoencoders at 4.5e-6).
inline constexpr double kMaxLearningRate = 1.0;

}  // namespace tessera::config
