#pragma once

#include <cstdint>

namespace tessera::stages {

// The tile sides tessera cuts, in output pixels; the --tile flag, ingest's
// validation and make_tile_grid refuse any other.
inline constexpr int kMinTileSize = 16;
inline constexpr int kMaxTileSize = 8192;

// The most tiles a slide's grid may have unless the run confirms more (ingest
// --allow-large-grid). An overlap multiplies a slide's tiles by about
// (tile / (tile - overlap))^2: --tile 64 --overlap 63 turns a 2048 x 1536
// slide into 2.9 million tiles. The largest scans, 200,000 px square at
// 0.25 µm/px, make about 610,000 tiles of 256 px without overlap.
inline constexpr uint64_t kMaxGridTilesUnconfirmed = 1'000'000;

}  // namespace tessera::stages
