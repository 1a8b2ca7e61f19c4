// bench/tile_codec: what storing tile pixels costs, per tile, on real tiles:
// the OpenSlide read, the filter scores, and JPEG encode/decode at several
// qualities and chroma settings, with bytes and PSNR against the source.
//
//   build/bench/tile_codec [SLIDE] [--tiles N]
#include <chrono>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <string>
#include <vector>

#include "examples/synthetic_slide.h"
#include "imaging/image_metrics.h"
#include "imaging/jpeg_codec.h"
#include "imaging/vips_runtime.h"
#include "slide/slide.h"
#include "slide/tile_filter.h"

namespace fs = std::filesystem;
using namespace tessera::stages;

namespace {

template <typename F>
double mean_ms(int n, F&& body) {
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < n; ++i) body(i);
  return std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - start).count() / n;
}

}  // namespace

int main(int argc, char** argv) {
  ensure_vips();
  fs::path path = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared/data/slides/CMU-1-Small-Region.svs";
  int max_tiles = 64;
  for (int i = 1; i < argc; ++i) {
    const std::string arg = argv[i];
    if (arg == "--tiles" && i + 1 < argc)
      max_tiles = std::atoi(argv[++i]);
    else
      path = arg;
  }
  if (!fs::exists(path)) {
    path = fs::temp_directory_path() / "tessera-bench-codec.tiff";
    tessera::examples::write_synthetic_slide(path.string(), {});
  }
  const auto slide = Slide::open(path.string());
  const auto& level0 = slide->levels()[0];
  // Tissue tiles only: glass compresses to nothing and flatters every codec.
  std::vector<RgbImage> tiles;
  std::vector<std::pair<int64_t, int64_t>> positions;
  FilterOptions filter;
  for (int64_t y = 0; y + 256 <= level0.height && int(tiles.size()) < max_tiles; y += 256) {
    for (int64_t x = 0; x + 256 <= level0.width && int(tiles.size()) < max_tiles; x += 256) {
      auto tile = slide->read_region(x, y, 0, 256, 256);
      if (score_tile(tile, false, filter).background_fraction < 0.5) {
        tiles.push_back(std::move(tile));
        positions.emplace_back(x, y);
      }
    }
  }
  const int n = int(tiles.size());
  if (n == 0) {
    std::fprintf(stderr, "no tissue tiles in %s\n", path.c_str());
    return 1;
  }
  std::printf("%d tissue tiles of 256 px from %s\n\n", n, path.filename().c_str());
  // Fresh handles, so neither reader serves tiles from its cache.
  const auto direct = Slide::open(path.string(), /*direct_tiff=*/true);
  const auto openslide = Slide::open(path.string(), /*direct_tiff=*/false);
  auto read = [&](const Slide& s, int i) {
    s.read_region(positions[size_t(i)].first, positions[size_t(i)].second, 0, 256, 256);
  };
  const double openslide_ms = mean_ms(n, [&](int i) { read(*openslide, i); });
  const double direct_ms = mean_ms(n, [&](int i) { read(*direct, i); });
  const double score_ms = mean_ms(n, [&](int i) { score_tile(tiles[size_t(i)], false, filter); });
  std::printf("per tile: OpenSlide read_region %.3f ms, direct TIFF read %.3f ms (%s), filter scores %.3f ms\n\n",
              openslide_ms, direct_ms, direct->reads_directly(0) ? "libtiff" : "not applicable: OpenSlide", score_ms);

  std::printf("%-22s %10s %10s %10s %10s %10s\n", "codec", "KiB/tile", "ratio", "encode ms", "decode ms", "PSNR dB");
  const double raw_kib = 256.0 * 256 * 3 / 1024;
  for (const bool full_chroma : {true, false}) {
    for (const bool fast : {false, true}) {
      for (const int quality : {75, 85, 90, 95}) {
        const JpegOptions options{quality, full_chroma, fast};
        std::vector<std::string> encoded(static_cast<size_t>(n));
        const double enc_ms = mean_ms(n, [&](int i) { encoded[size_t(i)] = encode_jpeg(tiles[size_t(i)], options); });
        double bytes = 0, quality_db = 0;
        std::vector<RgbImage> decoded(static_cast<size_t>(n));
        const double dec_ms = mean_ms(n, [&](int i) { decoded[size_t(i)] = decode_jpeg(encoded[size_t(i)]); });
        for (int i = 0; i < n; ++i) {
          bytes += double(encoded[size_t(i)].size());
          quality_db += psnr(tiles[size_t(i)], decoded[size_t(i)]);
        }
        char name[64];
        std::snprintf(name, sizeof name, "jpeg q%d %s%s", quality, full_chroma ? "4:4:4" : "4:2:0",
                      fast ? " fast" : "");
        std::printf("%-22s %10.1f %10.1f %10.3f %10.3f %10.2f\n", name, bytes / n / 1024, raw_kib / (bytes / n / 1024),
                    enc_ms, dec_ms, quality_db / n);
      }
    }
  }
  return 0;
}
