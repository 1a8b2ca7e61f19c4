#include "runtime/training_samples.h"

#include <xxhash.h>

#include <stdexcept>

namespace tessera::runtime {
namespace {

// GCC and Clang's 128-bit integer, for the bounded draw's full product.
__extension__ using u128 = unsigned __int128;

uint64_t splitmix64(uint64_t& state) {
  uint64_t z = (state += 0x9e3779b97f4a7c15ull);
  z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
  z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
  return z ^ (z >> 31);
}

// Lemire's nearly divisionless unbiased draw in [0, bound).
uint64_t bounded(uint64_t& state, uint64_t bound) {
  u128 m = static_cast<u128>(splitmix64(state)) * bound;
  auto low = static_cast<uint64_t>(m);
  if (low < bound) {
    const uint64_t threshold = (0 - bound) % bound;
    while (low < threshold) {
      m = static_cast<u128>(splitmix64(state)) * bound;
      low = static_cast<uint64_t>(m);
    }
  }
  return static_cast<uint64_t>(m >> 64);
}

double unit(uint64_t bits) { return double(bits >> 11) * 0x1.0p-53; }

}  // namespace

std::vector<uint32_t> epoch_order(size_t n, uint64_t seed, uint64_t epoch) {
  std::vector<uint32_t> order(n);
  for (size_t i = 0; i < n; ++i) order[i] = uint32_t(i);
  const uint64_t words[2] = {seed, epoch};
  uint64_t state = XXH3_64bits_withSeed(words, sizeof words, 0x6570'6f63'6873ull);
  for (size_t i = n; i > 1; --i) std::swap(order[i - 1], order[bounded(state, i)]);
  return order;
}

SampleDraw draw_for_sample(uint64_t seed, uint64_t epoch, const store::TileKey& tile, double drop_probability,
                           bool flips) {
  const std::string key = store::encode_tile_key(tile.slide_id, tile.row, tile.col);
  uint64_t state = XXH3_64bits_withSeed(key.data(), key.size(), seed ^ (epoch * 0x9e3779b97f4a7c15ull));
  SampleDraw draw;
  // One stream, drawn in a fixed order: the dropout never depends on the flips.
  draw.drop_prompt = unit(splitmix64(state)) < drop_probability;
  const uint64_t flip_bits = splitmix64(state);
  draw.flip_horizontal = flips && (flip_bits & 1);
  draw.flip_vertical = flips && (flip_bits & 2);
  draw.noise_seed = splitmix64(state);
  return draw;
}

std::vector<SamplePosition> step_positions(int64_t step, int64_t global_batch, int64_t rank, int64_t per_rank,
                                           size_t samples) {
  if (samples == 0) throw std::invalid_argument("no training samples");
  std::vector<SamplePosition> out;
  out.reserve(size_t(per_rank));
  const uint64_t first = uint64_t(step) * uint64_t(global_batch) + uint64_t(rank) * uint64_t(per_rank);
  for (int64_t j = 0; j < per_rank; ++j) {
    const uint64_t p = first + uint64_t(j);
    out.push_back({p / samples, size_t(p % samples)});
  }
  return out;
}

}  // namespace tessera::runtime
