#pragma once

// Which stored latent trains at which position of a run, and how: pure
// functions of the seed, so that every rank of a data-parallel run and every
// resumed run agree without sharing state.
//
// Sample p of a run (p = step * global_batch + j) is
//   epoch p / n, entry (p mod n) of that epoch's permutation of the n samples;
// each process of rank r takes j in [r * per_rank, (r + 1) * per_rank).

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "store/keys.h"

namespace tessera::runtime {

struct TrainingSample {
  store::TileKey tile;
  std::string prompt_id;  // "" for a tile without a prompt
};

// A permutation of [0, n) for one epoch: Fisher-Yates driven by a SplitMix64
// stream seeded from (seed, epoch), with unbiased bounded draws, so the order
// is the same with every compiler and standard library.
std::vector<uint32_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch);

// What happens to one sample in one epoch, from a hash of (seed, epoch, tile).
struct SampleDraw {
  // Classifier-free-guidance dropout: trains with the empty prompt. Every tile
  // has the same probability, whatever its prompt (PathLDM dropped only
  // low-TIL captions).
  bool drop_prompt = false;
  bool flip_horizontal = false;
  bool flip_vertical = false;
  uint64_t noise_seed = 0;  // a KL latent's posterior sample
};
SampleDraw draw_for_sample(uint64_t seed, uint64_t epoch, const store::TileKey& tile, double drop_probability,
                           bool flips);

struct SamplePosition {
  uint64_t epoch = 0;
  size_t index = 0;  // into the epoch's order
};

// Positions of this rank's samples in optimiser step `step`, in order.
std::vector<SamplePosition> step_positions(int64_t step, int64_t global_batch, int64_t rank, int64_t per_rank,
                                           size_t samples);

}  // namespace tessera::runtime
