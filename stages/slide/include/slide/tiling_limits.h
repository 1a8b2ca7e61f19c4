#pragma once

namespace tessera::stages {

// The tile sides tessera cuts, in output pixels: below 16 a tile holds no
// tissue structure; above 8192 one tile's pixels outgrow a reader's memory.
inline constexpr int kMinTileSize = 16;
inline constexpr int kMaxTileSize = 8192;

}  // namespace tessera::stages
