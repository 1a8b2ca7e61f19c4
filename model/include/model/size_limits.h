#pragma once

// The bounds on a network's sizes, for every config that builds one (the LDM
// YAML in config/, a CLIP text config's JSON here). Each sits far above every
// published CompVis, PathLDM, Stable Diffusion and CLIP config, and low enough
// that a mistyped value is refused by its key before it becomes an allocation
// while the network is built.

#include <cstdint>

namespace tessera::model {

// Channels and widths: a layer's channels or hidden size, a head count, an
// MLP's width (Stable Diffusion's widest level has 1280 channels; CLIP
// ViT-bigG's MLP is 5120 wide).
inline constexpr int64_t kMaxChannels = 8192;
// Entries of a lookup table: a VQ codebook's n_embed (the largest published:
// 16384) and a tokenizer's vocabulary (CLIP's: 49408).
inline constexpr int64_t kMaxTableEntries = int64_t{1} << 20;
// Repeats: residual blocks per level, transformer layers, levels (published
// configs: at most 4 and 5 levels, CLIP ViT-bigG's 32 layers).
inline constexpr int64_t kMaxDepth = 64;
// Image, latent and sequence sides: resolution, image_size, a text encoder's
// positions (Stable Diffusion's: 512, 64 and 77).
inline constexpr int64_t kMaxSide = 16384;

}  // namespace tessera::model
