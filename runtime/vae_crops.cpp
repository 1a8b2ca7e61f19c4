#include "runtime/vae_crops.h"

#include <algorithm>

#include "base/error.h"
#include "imaging/jpeg_codec.h"
#include "runtime/training_samples.h"
#include "store/store.h"

namespace tessera::runtime {

VaeTiles list_vae_tiles(const store::Store& store) {
  VaeTiles list;
  size_t complete = 0;
  for (const auto& slide : store.slides()) {
    if (slide.status != store::SlideStatus::kComplete) continue;
    ++complete;
    const auto index = uint32_t(list.slide_ids.size());
    const size_t before = list.tiles.size();
    store.for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord&) {
      list.tiles.push_back({index, key.row, key.col});
    });
    if (list.tiles.size() == before) continue;
    list.slide_ids.push_back(slide.id);
    list.smallest_side = list.smallest_side == 0 ? slide.tile_size : std::min(list.smallest_side, slide.tile_size);
  }
  if (complete == 0) {
    throw Error("store " + store.dir().string() + " has no complete slides to train on: run `tessera ingest` first");
  }
  if (list.tiles.empty()) {
    throw Error("store " + store.dir().string() + ": its " + std::to_string(complete) +
                " complete slides have no tiles to train on");
  }
  return list;
}

std::vector<uint8_t> CropSource::crops(int64_t step) {
  const size_t crop_bytes = size_t(side_) * size_t(side_) * 3;
  std::vector<uint8_t> pixels(crop_bytes * size_t(batch_));
  const auto positions = step_positions(step, batch_, 0, batch_, tiles_.tiles.size());
  for (size_t i = 0; i < positions.size(); ++i) {
    const auto& position = positions[i];
    const VaeTile& tile = tiles_.tiles[order(position.epoch)[position.index]];
    const store::TileKey key{tiles_.slide_ids[tile.slide], tile.row, tile.col};
    const auto jpeg = store_.tile_pixels(key.slide_id, key.row, key.col);
    if (!jpeg) {
      throw Error("slide " + key.slide_id + ": tile (" + std::to_string(key.row) + ", " + std::to_string(key.col) +
                  ") has no stored pixels");
    }
    const stages::RgbImage image = stages::decode_jpeg(*jpeg);
    // The draw's flips, and its 64-bit noise word as the crop's corner.
    const SampleDraw draw = draw_for_sample(seed_, position.epoch, key, 0.0, true);
    const int x0 = int((draw.noise_seed & 0xffffffffu) % uint64_t(image.width - side_ + 1));
    const int y0 = int((draw.noise_seed >> 32) % uint64_t(image.height - side_ + 1));
    uint8_t* out = pixels.data() + crop_bytes * i;
    for (int y = 0; y < side_; ++y) {
      const int source_y = y0 + (draw.flip_vertical ? side_ - 1 - y : y);
      for (int x = 0; x < side_; ++x) {
        const int source_x = x0 + (draw.flip_horizontal ? side_ - 1 - x : x);
        const uint8_t* pixel = image.at(source_x, source_y);
        uint8_t* target = out + (size_t(y) * size_t(side_) + size_t(x)) * 3;
        target[0] = pixel[0], target[1] = pixel[1], target[2] = pixel[2];
      }
    }
  }
  return pixels;
}

// A step spans at most two epochs: the last two orders are kept.
const std::vector<uint32_t>& CropSource::order(uint64_t epoch) {
  auto found = orders_.find(epoch);
  if (found != orders_.end()) return found->second;
  if (orders_.size() >= 2) orders_.erase(orders_.begin());
  return orders_.emplace(epoch, epoch_order(tiles_.tiles.size(), seed_, epoch)).first->second;
}

}  // namespace tessera::runtime
