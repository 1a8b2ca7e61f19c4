// bench/generate: tessera generate's images/s and the UNet's share of the
// run, against the ceiling the UNet alone sets (the same forward passes,
// classifier-free guidance's doubled batch included, on random inputs, in a
// plain LibTorch loop) measured in the same run on the same device. The tiny
// LDM always; PathLDM's config when a GPU is present or --pathldm is given
// (slow on a CPU).
//
//   build/bench/generate [--n 16] [--steps 10] [--batch 8] [--threads N] [--device auto|cpu|cuda] [--pathldm]
//
// Weights are random (`tessera model init`; speed does not depend on their
// values); prompts are drawn from a store ingested from a synthetic slide
// without reports, so every image is unconditional but guidance still runs
// the doubled batch.
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include "bench_support.h"
#include "examples/synthetic_slide.h"
#include "model/device.h"
#include "model/unet.h"
#include "pipeline/generate.h"
#include "pipeline/ingest.h"
#include "runtime/model_loading.h"

namespace fs = std::filesystem;
using namespace tessera;

namespace {

struct Args {
  uint64_t n = 16;
  int steps = 10;
  size_t batch = 8;
  int threads = 0;
  std::string device = "auto";
  bool pathldm = false;
};

Args parse(int argc, char** argv) {
  Args a;
  for (int i = 1; i < argc; ++i) {
    const std::string k = argv[i];
    if (k == "--pathldm") {
      a.pathldm = true;
      continue;
    }
    if (i + 1 == argc) {
      std::fprintf(stderr, "flag %s needs a value\n", k.c_str());
      std::exit(2);
    }
    const std::string v = argv[++i];
    if (k == "--n")
      a.n = std::stoull(v);
    else if (k == "--steps")
      a.steps = std::stoi(v);
    else if (k == "--batch")
      a.batch = std::stoul(v);
    else if (k == "--threads")
      a.threads = std::stoi(v);
    else if (k == "--device")
      a.device = v;
    else {
      std::fprintf(stderr, "unknown flag %s\n", k.c_str());
      std::exit(2);
    }
  }
  return a;
}

// Images/s if nothing but the UNet ran: steps forward passes per batch on
// (2B, C, S, S) latents with (2B, 77, D) contexts, synchronised per batch.
double unet_ceiling(const std::string& config, const std::string& weights, const Args& args,
                    const torch::Device& device, int64_t channels, int64_t side, int64_t context_length) {
  auto unet = runtime::load_unet(config, weights);
  model::place_module(*unet.module, device);
  torch::NoGradGuard no_grad;
  const auto options = torch::TensorOptions().dtype(torch::kFloat32).device(device);
  const int64_t batches = int64_t((args.n + args.batch - 1) / args.batch);
  const auto run = [&](int64_t count) {
    for (int64_t b = 0; b < count; ++b) {
      const int64_t rows = 2 * int64_t(std::min<uint64_t>(args.batch, args.n - uint64_t(b) * args.batch));
      const auto x = torch::randn({rows, channels, side, side}, options);
      const auto context = torch::randn({rows, context_length, unet.context_dim}, options);
      for (int s = 0; s < args.steps; ++s) {
        const auto t = torch::full({rows}, int64_t(999 - 100 * s), options.dtype(torch::kInt64));
        unet.module->forward(x, t, context).to(torch::kCPU);
      }
    }
  };
  run(1);  // warm-up
  const auto start = std::chrono::steady_clock::now();
  run(batches);
  return double(args.n) / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  const fs::path source(TESSERA_SOURCE_DIR);
  const fs::path binary(TESSERA_BINARY_DIR);
  const fs::path work = fs::temp_directory_path() / ("tessera-bench-generate-" + std::to_string(getpid()));
  fs::create_directories(work);

  examples::SyntheticSlideSpec spec;
  spec.width = 1024;
  spec.height = 1024;
  const auto slide = work / "TCGA-BG-0001-01Z-00-DX1.tiff";
  examples::write_synthetic_slide(slide.string(), spec);
  auto ingest = pipeline::IngestOptions();
  ingest.store = work / "store";
  ingest.slides = {slide.string()};
  ingest.write_qc = false;
  ingest.progress = pipeline::ProgressDisplay::kQuiet;
  pipeline::run_ingest(ingest);

  const auto device = model::resolve_device(args.device);
  model::set_cpu_threads(args.threads);
  std::printf("device %s, %d CPU threads, n %llu, DDIM %d steps, batch %zu, guidance 1.5\n\n", device.str().c_str(),
              at::get_num_threads(), (unsigned long long)args.n, args.steps, args.batch);
  std::printf("%-14s %7s %12s %13s %8s %11s %8s\n", "config", "image", "tessera i/s", "UNet-only i/s", "ratio",
              "UNet share", "load s");

  struct Config {
    std::string file;
    int64_t channels, side, context_length;
  };
  std::vector<Config> configs = {{"tiny-ldm.yaml", 3, 16, 77}};
  if (device.is_cuda() || args.pathldm) configs.push_back({"pathldm.yaml", 3, 64, 154});
  for (const auto& config : configs) {
    const auto config_path = (source / "schemas" / "ldm" / config.file).string();
    const auto weights = (work / (config.file + ".safetensors")).string();
    const auto init = bench::run_measured(
        {(binary / "tessera").string(), "model", "init", "--config", config_path, "--seed", "1", "--out", weights},
        (work / "init.log").string());
    if (init.exit_code != 0) {
      std::fprintf(stderr, "tessera model init failed for %s (see %s)\n", config.file.c_str(),
                   (work / "init.log").c_str());
      return 1;
    }
    pipeline::GenerateOptions o;
    o.config = config_path;
    o.weights = weights;
    o.from_store = ingest.store;
    o.n = args.n;
    o.steps = args.steps;
    o.batch = args.batch;
    o.out = work / ("out-" + config.file);
    o.device = args.device;
    o.threads = args.threads;
    o.progress = pipeline::ProgressDisplay::kQuiet;
    const auto ours = pipeline::run_generate(o);
    // The rate of the sampling itself: loading the models is not per image.
    const double sampling = ours.seconds - ours.load_seconds;
    const double rate = double(ours.generated) / sampling;
    const double ceiling =
        unet_ceiling(config_path, weights, args, device, config.channels, config.side, config.context_length);
    const int side = int(config.side) * (config.file == "tiny-ldm.yaml" ? 2 : 4);
    std::printf("%-14s %5dpx %12.3f %13.3f %8.2f %10.0f%% %8.1f\n", config.file.c_str(), side, rate, ceiling,
                rate / ceiling, 100.0 * ours.unet_seconds / sampling, ours.load_seconds);
    std::fflush(stdout);
    fs::remove(weights);
  }
  fs::remove_all(work);
  return 0;
}
