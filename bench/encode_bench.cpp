// bench/encode: tessera encode's tiles/s against its ceiling, the same model
// in a plain LibTorch loop over tiles already decoded in memory, measured in
// the same run on the same tiles, for the tiny config and PathLDM's VQ-f4.
// Also the share of the run the model was busy (on a GPU: the GPU's busy
// fraction as the host sees it).
//
//   build/bench/encode [--side PX] [--batch B] [--threads N] [--device auto|cpu|cuda] [--configs a.yaml,b.yaml]
//
// The slide is synthetic (examples/synthetic_slide.h), --side square at
// 0.5 µm/px, tiled at each config's own resolution (32 px for the tiny VQ,
// 256 px for VQ-f4: the VAEs' mid-block attention is quadratic in the latent
// area, so a tiny config on 256 px tiles measures nothing useful); weights are
// random (speed does not depend on their values).
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <sstream>
#include <string>
#include <vector>

#include "bench_support.h"
#include "config/ldm_config.h"
#include "examples/synthetic_slide.h"
#include "imaging/jpeg_codec.h"
#include "model/autoencoder.h"
#include "model/device.h"
#include "pipeline/encode.h"
#include "pipeline/ingest.h"
#include "runtime/model_loading.h"
#include "store/store.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

struct Args {
  int side = 2048;
  size_t batch = 16;
  int threads = 0;
  std::string device = "auto";
  std::vector<std::string> configs = {"tiny-vq.yaml", "vq-f4.yaml"};
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string k = argv[i], v = argv[i + 1];
    if (k == "--side")
      a.side = std::stoi(v);
    else if (k == "--batch")
      a.batch = std::stoul(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--device")
      a.device = v;
    else if (k == "--configs") {
      a.configs.clear();
      std::stringstream list(v);
      for (std::string c; std::getline(list, c, ',');) a.configs.push_back(c);
    } else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

// Tiles/s of the model alone: batches of in-memory tensors on the device,
// the same batch size, synchronised at the end of each batch as the pipeline's
// copy back to the host is.
double plain_loop(const runtime::LoadedAutoencoder& vae, const torch::Tensor& tiles, size_t batch,
                  const torch::Device& device) {
  torch::NoGradGuard no_grad;
  const auto on_device = model::to_device(tiles, device);
  const auto run_all = [&] {
    for (int64_t begin = 0; begin < on_device.size(0); begin += int64_t(batch)) {
      const int64_t n = std::min<int64_t>(int64_t(batch), on_device.size(0) - begin);
      vae.module->encode_moments(on_device.narrow(0, begin, n)).to(torch::kCPU);
    }
  };
  run_all();  // warm-up
  const auto start = std::chrono::steady_clock::now();
  run_all();
  const double seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return double(on_device.size(0)) / seconds;
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const fs::path source(TESSERA_SOURCE_DIR);
  const fs::path binary(TESSERA_BINARY_DIR);
  const fs::path work = fs::temp_directory_path() / ("tessera-bench-encode-" + std::to_string(getpid()));
  fs::create_directories(work);

  examples::SyntheticSlideSpec spec;
  spec.width = args.side;
  spec.height = args.side;
  const auto slide = work / "TCGA-BE-0001-01Z-00-DX1.tiff";
  examples::write_synthetic_slide(slide.string(), spec);
  const auto device = model::resolve_device(args.device);
  model::set_cpu_threads(args.threads);
  std::printf("slide %dx%d at 0.5 um/px; device %s, batch %zu, %d CPU threads\n\n", args.side, args.side,
              device.str().c_str(), args.batch, at::get_num_threads());
  std::printf("%-14s %6s %7s %12s %12s %8s %12s\n", "config", "tile", "tiles", "tessera t/s", "plain t/s", "ratio",
              "model busy");
  for (const auto& config : args.configs) {
    const auto config_path = (source / "schemas" / "ldm" / config).string();
    const int side = int(config::read_ldm_config(config_path).first_stage->resolution);
    // A store of this config's tile size, its tiles decoded once for the plain loop.
    auto ingest = pipeline::IngestOptions();
    ingest.store = work / ("store-" + std::to_string(side));
    ingest.slides = {slide.string()};
    ingest.tile = side;
    ingest.write_qc = false;
    ingest.progress = pipeline::ProgressDisplay::kQuiet;
    pipeline::run_ingest(ingest);
    std::vector<torch::Tensor> decoded;
    {
      auto store = store::Store::open(ingest.store);
      store->for_each_tile("TCGA-BE-0001-01Z-00-DX1", [&](const store::TileKey& k, const store::TileRecord&) {
        const auto rgb = stages::decode_jpeg(*store->tile_pixels(k.slide_id, k.row, k.col));
        decoded.push_back(torch::from_blob(const_cast<uint8_t*>(rgb.pixels.data()), {side, side, 3}, torch::kUInt8)
                              .permute({2, 0, 1})
                              .to(torch::kFloat32)
                              .div(127.5)
                              .sub(1.0));
      });
    }
    const auto tiles = torch::stack(decoded);

    const auto weights = (work / (config + ".safetensors")).string();
    const auto init = bench::run_measured(
        {(binary / "tessera").string(), "model", "init", "--config", config_path, "--seed", "1", "--out", weights},
        (work / "init.log").string());
    if (init.exit_code != 0) {
      std::fprintf(stderr, "tessera model init failed for %s (see %s)\n", config.c_str(), (work / "init.log").c_str());
      return 1;
    }
    pipeline::EncodeOptions encode;
    encode.store = ingest.store;
    encode.encoder.config = config_path;
    encode.encoder.weights = weights;
    encode.encoder.device = args.device;
    encode.encoder.threads = args.threads;
    encode.batch = args.batch;
    encode.progress = pipeline::ProgressDisplay::kQuiet;
    const auto ours = pipeline::run_encode(encode);
    const double ours_rate = double(ours.tiles_encoded) / ours.seconds;

    auto vae = runtime::load_autoencoder(config_path, weights);
    model::place_module(*vae.module, device);
    const double plain_rate = plain_loop(vae, tiles, args.batch, device);
    std::printf("%-14s %6d %7lld %12.2f %12.2f %8.2f %11.0f%%\n", config.c_str(), side, (long long)ours.tiles_encoded,
                ours_rate, plain_rate, ours_rate / plain_rate, 100.0 * ours.model_seconds / ours.seconds);
    std::fflush(stdout);
  }
  fs::remove_all(work);
  return 0;
}
