#pragma once

namespace tessera::stages {

// The tile sides tessera cuts, in output pixels; the --tile flag, ingest's
// validation and make_tile_grid refuse any other.
inline constexpr int kMinTileSize = 16;
inline constexpr int kMaxTileSize = 8192;

}  // namespace tessera::stages
