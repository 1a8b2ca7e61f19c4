#pragma once

// What a VAE fine-tuning run trains on: RGB crops of every tile of the
// store's complete slides. Per epoch a seeded shuffle of the tiles; per
// sample a crop corner and flips drawn from (seed, epoch, tile)
// (runtime/training_samples.h), so that a step's crops are a pure function of
// the seed and the step.

#include <cstdint>
#include <map>
#include <string>
#include <vector>

namespace tessera::store {
class Store;
}  // namespace tessera::store

namespace tessera::runtime {

struct VaeTile {
  uint32_t slide = 0;  // index into VaeTiles::slide_ids
  uint32_t row = 0;
  uint32_t col = 0;
};

// Every tile of every complete slide, in key order.
struct VaeTiles {
  std::vector<std::string> slide_ids;
  std::vector<VaeTile> tiles;
  int smallest_side = 0;  // pixels
};

// Throws tessera::Error naming the store when it has no complete slide or
// its complete slides no tile.
VaeTiles list_vae_tiles(const store::Store& store);

class CropSource {
 public:
  CropSource(const store::Store& store, const VaeTiles& tiles, uint64_t seed, int64_t batch, int side)
      : store_(store), tiles_(tiles), seed_(seed), batch_(batch), side_(side) {}

  // The crops of step `step`, HWC 8-bit, side x side each, one after
  // another. Throws tessera::Error naming a tile whose pixels are missing.
  std::vector<uint8_t> crops(int64_t step);

 private:
  const std::vector<uint32_t>& order(uint64_t epoch);

  const store::Store& store_;
  const VaeTiles& tiles_;
  uint64_t seed_;
  int64_t batch_;
  int side_;
  std::map<uint64_t, std::vector<uint32_t>> orders_;  // epoch -> permutation, the last two kept
};

}  // namespace tessera::runtime
