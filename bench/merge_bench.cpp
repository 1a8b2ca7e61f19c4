// tessera merge's speed and what it leaves:
//   1. merge throughput (MB/s of the shards on disk) of `tessera merge` into a
//      new store, against a plain copy of the same files, in the same run;
//   2. the merged store's size and full-read speed (every tile's pixels, as
//      encode reads them), against one store written with the same slides in
//      one run, as a single-store ingest writes them.
// Shards are written through the store's SlideWriter, as ingest writes them,
// with incompressible 24 KB tiles (JPEG-like): the cohort's bytes without the
// cost of decoding slides.
//
//   bench/merge [--gib G] [--shards N] [--tile-kib K]

#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include "bench_support.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

struct Args {
  double gib = 2;
  int shards = 4;
  size_t tile_kib = 24;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--gib") {
      a.gib = std::atof(argv[i + 1]);
    } else if (flag == "--shards") {
      a.shards = std::atoi(argv[i + 1]);
    } else if (flag == "--tile-kib") {
      a.tile_kib = size_t(std::atoi(argv[i + 1]));
    } else {
      std::fprintf(stderr, "usage: bench/merge [--gib G] [--shards N] [--tile-kib K]\n");
      std::exit(2);
    }
  }
  return a;
}

constexpr uint32_t kTilesPerSlide = 2000;  // a 40x slide's worth at 20x, tissue only

double seconds_since(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

uint64_t bytes_of(const fs::path& dir) {
  uint64_t total = 0;
  for (const auto& e : fs::recursive_directory_iterator(dir)) {
    if (e.is_regular_file()) total += e.file_size();
  }
  return total;
}

void write_slide(store::Store& s, const std::string& id, size_t tile_bytes, std::mt19937_64& random) {
  auto writer = s.slide_writer(id);
  std::string pixels(tile_bytes, '\0');
  for (uint32_t t = 0; t < kTilesPerSlide; ++t) {
    for (size_t i = 0; i + 8 <= pixels.size(); i += 8) {
      const uint64_t v = random();
      std::memcpy(&pixels[i], &v, 8);
    }
    store::TileRecord tile;
    tile.x = int64_t(t % 64) * 256;
    tile.y = int64_t(t / 64) * 256;
    tile.extent = 512;
    tile.size = 256;
    tile.mpp = 0.5f;
    tile.tissue_fraction = 0.9f;
    writer.add(t / 64, t % 64, tile, pixels);
  }
  store::SlideRecord record;
  record.id = id;
  record.status = store::SlideStatus::kComplete;
  record.tile_size = 256;
  record.tiles_kept = kTilesPerSlide;
  record.codec = "jpeg";
  writer.commit(record);
}

// Every tile's pixels of every slide, in order: MB/s.
double read_speed(const fs::path& dir) {
  store::StoreOptions ro;
  ro.read_only = true;
  const auto s = store::Store::open(dir, ro);
  const auto start = std::chrono::steady_clock::now();
  uint64_t bytes = 0;
  for (const auto& slide : s->slides()) {
    s->for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord&) {
      bytes += s->tile_pixels(key.slide_id, key.row, key.col)->size();
    });
  }
  return double(bytes) / 1e6 / seconds_since(start);
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const fs::path work = fs::temp_directory_path() / ("tessera-bench-merge-" + std::to_string(getpid()));
  fs::create_directories(work);
  const size_t tile_bytes = args.tile_kib * 1024;
  const int slides =
      std::max(args.shards, int(args.gib * double(uint64_t{1} << 30) / double(tile_bytes) / kTilesPerSlide));

  // The cohort twice: as shards, and in one store, from the same random stream.
  std::vector<fs::path> shards;
  {
    std::vector<std::unique_ptr<store::Store>> open;
    for (int i = 0; i < args.shards; ++i) {
      shards.push_back(work / ("shard-" + std::to_string(i)));
      open.push_back(store::Store::open(shards.back()));
    }
    auto single = store::Store::open(work / "single");
    for (int i = 0; i < slides; ++i) {
      const std::string id = "TCGA-BM-" + std::to_string(1000 + i) + "-01Z-00-DX1";
      std::mt19937_64 a{uint64_t(i)}, b{uint64_t(i)};
      write_slide(*open[size_t(i % args.shards)], id, tile_bytes, a);
      write_slide(*single, id, tile_bytes, b);
    }
  }
  uint64_t shard_bytes = 0;
  for (const auto& s : shards) shard_bytes += bytes_of(s / "db");
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  std::printf("merge bench: %d slides of %u tiles of %zu KiB in %d shards, %.2f GB on disk\n", slides, kTilesPerSlide,
              args.tile_kib, args.shards, double(shard_bytes) / 1e9);

  // A plain copy of the same files, then the merge; both read what the
  // shards' writes left in the page cache.
  fs::create_directories(work / "copy");
  auto start = std::chrono::steady_clock::now();
  for (const auto& s : shards) fs::copy(s, work / "copy" / s.filename(), fs::copy_options::recursive);
  const double copy_seconds = seconds_since(start);

  std::vector<std::string> command = {TESSERA_BINARY, "merge", "--into", (work / "merged").string(),
                                      "--progress",   "quiet"};
  for (const auto& s : shards) command.push_back(s.string());
  const auto merge = bench::run_measured(command, (work / "merge.log").string());
  if (merge.exit_code != 0) {
    std::fprintf(stderr, "merge failed; see %s\n", (work / "merge.log").c_str());
    return 1;
  }
  const double mb = double(shard_bytes) / 1e6;
  std::printf("  plain copy:        %8.1f MB/s (%.2f s)\n", mb / copy_seconds, copy_seconds);
  std::printf("  tessera merge:     %8.1f MB/s (%.2f s, peak RSS %.0f MiB)\n", mb / merge.seconds, merge.seconds,
              merge.peak_rss_mib);
  std::printf("  ratio:             %8.2f of the copy's speed (target >= 1)\n", copy_seconds / merge.seconds);

  const double merged_size = double(bytes_of(work / "merged" / "db"));
  const double single_size = double(bytes_of(work / "single" / "db"));
  std::printf("store size: merged %.3f GB, single-store %.3f GB, ratio %.3f (target <= 1)\n", merged_size / 1e9,
              single_size / 1e9, merged_size / single_size);
  // Best of three, alternating, so that neither store gains from the other's
  // pages being evicted or kept.
  double merged_read = 0, single_read = 0;
  for (int round = 0; round < 3; ++round) {
    merged_read = std::max(merged_read, read_speed(work / "merged"));
    single_read = std::max(single_read, read_speed(work / "single"));
  }
  std::printf("full read (best of 3): merged %.1f MB/s, single-store %.1f MB/s, ratio %.2f (target >= 1)\n",
              merged_read, single_read, merged_read / single_read);
  if (!std::getenv("TESSERA_BENCH_KEEP")) fs::remove_all(work);
  return 0;
}
