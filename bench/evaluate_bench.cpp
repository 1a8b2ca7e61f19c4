// tessera evaluate's speed:
//   1. features per second of run_evaluate (PNG folders on both sides, fresh
//      caches) against a plain LibTorch loop over the same images with the
//      same extractor (decode, stack, forward), measured in the same run;
//   2. the time of the metrics (FID, KID, precision/recall/density/coverage)
//      for 10k x 2048 features per side, against the time the extractor would
//      take to extract them at the rate just measured.
//
//   bench/evaluate [--extractor FILE.pt|heavy] [--images N] [--side PX] [--rows N] [--dim D] [--threads T]
// Without --extractor it makes the demo's (runtime/example_extractor.h);
// `heavy` makes one nearer Inception's cost; NVlabs'
// inception-2015-12-05.pt is the one whose rate matters.

#include <torch/script.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <filesystem>
#include <random>
#include <string>
#include <vector>

#include "imaging/image_file.h"
#include "imaging/vips_runtime.h"
#include "model/device.h"
#include "pipeline/evaluate.h"
#include "runtime/example_extractor.h"
#include "runtime/feature_metrics.h"

namespace fs = std::filesystem;
using Clock = std::chrono::steady_clock;
using namespace tessera;

namespace {

double seconds_since(Clock::time_point start) { return std::chrono::duration<double>(Clock::now() - start).count(); }

std::vector<fs::path> write_images(const fs::path& dir, int count, int side, uint32_t seed) {
  fs::create_directories(dir);
  std::mt19937 random(seed);
  std::uniform_int_distribution<int> value(0, 255);
  std::vector<fs::path> files;
  for (int i = 0; i < count; ++i) {
    stages::RgbImage image(side, side);
    const int red = value(random), blue = value(random);
    for (int y = 0; y < side; ++y) {
      for (int x = 0; x < side; ++x) {
        auto* p = image.at(x, y);
        p[0] = uint8_t((red + x) & 255);
        p[1] = uint8_t(value(random) / 2 + 60);
        p[2] = uint8_t((blue + y) & 255);
      }
    }
    char name[32];
    std::snprintf(name, sizeof name, "%06d.png", i);
    files.push_back(dir / name);
    stages::save_png(image, files.back().string());
  }
  return files;
}

// The baseline: decode, stack, forward(x, return_features=True), batch by batch.
double plain_loop_seconds(const std::string& extractor, const std::vector<fs::path>& files, size_t batch) {
  auto module = torch::jit::load(extractor);
  module.eval();
  torch::NoGradGuard no_grad;
  const auto start = Clock::now();
  for (size_t begin = 0; begin < files.size(); begin += batch) {
    std::vector<torch::Tensor> inputs;
    for (size_t i = begin; i < std::min(files.size(), begin + batch); ++i) {
      const auto image = stages::read_image(files[i].string());
      inputs.push_back(
          torch::from_blob(const_cast<uint8_t*>(image.pixels.data()), {image.height, image.width, 3}, torch::kUInt8)
              .permute({2, 0, 1})
              .to(torch::kFloat32)
              .unsqueeze(0));
    }
    const auto features = module.forward({torch::cat(inputs, 0)}, {{"return_features", true}}).toTensor();
    if (features.size(0) != int64_t(inputs.size())) std::abort();
  }
  return seconds_since(start);
}

// An extractor nearer Inception's cost than the demo's (about 1.2 GFLOP per
// image, where Inception is about 6): NVlabs' convention, 128 px inside,
// four 3x3 convolutions of 64 to 256 channels, mean-pooled 256 features.
void write_heavy_extractor(const fs::path& path) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(0);
  torch::jit::Module module("HeavyBenchExtractor");
  const int64_t widths[] = {3, 64, 128, 192, 256};
  for (int i = 0; i < 4; ++i) {
    module.register_parameter("conv" + std::to_string(i), torch::randn({widths[i + 1], widths[i], 3, 3}) * 0.05, false);
  }
  module.define(R"(
def forward(self, x, return_features: bool = False):
    x = torch.upsample_bilinear2d(x.float(), [128, 128], False, None)
    x = (x - 128.0) / 128.0
    h = torch.relu(torch.conv2d(x, self.conv0, None, [1, 1], [1, 1]))
    h = torch.relu(torch.conv2d(h, self.conv1, None, [2, 2], [1, 1]))
    h = torch.relu(torch.conv2d(h, self.conv2, None, [2, 2], [1, 1]))
    h = torch.relu(torch.conv2d(h, self.conv3, None, [2, 2], [1, 1]))
    return torch.mean(h, [2, 3])
)");
  module.save(path.string());
}

runtime::FeatureMatrix random_features(size_t rows, size_t dim, uint64_t seed, double shift) {
  std::mt19937_64 random(seed);
  std::normal_distribution<double> normal(shift, 1.0);
  runtime::FeatureMatrix m{rows, dim, {}};
  m.values.resize(rows * dim);
  for (auto& v : m.values) v = normal(random);
  return m;
}

}  // namespace

int main(int argc, char** argv) {
  std::string extractor;
  int images = 512, side = 256, threads = 0;
  size_t rows = 10000, dim = 2048;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i], value = argv[i + 1];
    if (flag == "--extractor")
      extractor = value;
    else if (flag == "--images")
      images = std::stoi(value);
    else if (flag == "--side")
      side = std::stoi(value);
    else if (flag == "--rows")
      rows = std::stoul(value);
    else if (flag == "--dim")
      dim = std::stoul(value);
    else if (flag == "--threads")
      threads = std::stoi(value);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  model::set_cpu_threads(threads);
  stages::ensure_vips();
  const fs::path dir = fs::temp_directory_path() / ("tessera-bench-evaluate-" + std::to_string(::getpid()));
  fs::create_directories(dir);
  if (extractor == "heavy") {
    extractor = (dir / "heavy.pt").string();
    write_heavy_extractor(extractor);
  } else if (extractor.empty()) {
    extractor = (dir / "extractor.pt").string();
    runtime::write_example_extractor(extractor);
  }
  const auto synthetic = write_images(dir / "synthetic", images / 2, side, 1);
  const auto real = write_images(dir / "real", images / 2, side, 2);
  std::vector<fs::path> all = synthetic;
  all.insert(all.end(), real.begin(), real.end());

  std::printf("evaluate bench: %zu images of %d px, extractor %s, %d threads\n", all.size(), side, extractor.c_str(),
              at::get_num_threads());
  (void)plain_loop_seconds(extractor, std::vector<fs::path>(all.begin(), all.begin() + 32), 32);  // warm-up
  const double plain = plain_loop_seconds(extractor, all, 32);
  pipeline::EvaluateOptions options;
  options.extractor.path = extractor;
  options.extractor.threads = threads;
  options.synthetic = {dir / "synthetic"};
  options.real = {dir / "real"};
  options.out = dir / "out";
  options.metrics = {"kid"};
  options.progress = pipeline::ProgressDisplay::kQuiet;
  const auto start = Clock::now();
  const auto summary = pipeline::run_evaluate(options);
  const double tessera_seconds = seconds_since(start);
  const double plain_rate = double(all.size()) / plain;
  const double tessera_rate = double(summary.extracted) / summary.feature_seconds;
  std::printf("  plain LibTorch loop:  %8.1f images/s (%.2f s)\n", plain_rate, plain);
  std::printf("  tessera evaluate:     %8.1f images/s (%.2f s of a %.2f s run)\n", tessera_rate,
              summary.feature_seconds, tessera_seconds);
  std::printf("  ratio:                %8.3f of the plain loop (target >= 0.9)\n", tessera_rate / plain_rate);

  const auto a = random_features(rows, dim, 1, 0.0);
  const auto b = random_features(rows, dim, 2, 0.05);
  auto t = Clock::now();
  const double fid = runtime::frechet_distance(a, b);
  const double fid_seconds = seconds_since(t);
  t = Clock::now();
  const auto kid = runtime::kernel_distance(a, b);
  const double kid_seconds = seconds_since(t);
  t = Clock::now();
  const auto prdc = runtime::precision_recall(a, b, 5);
  const double prdc_seconds = seconds_since(t);
  const double metrics = fid_seconds + kid_seconds + prdc_seconds;
  const double extraction = 2.0 * double(rows) / tessera_rate;
  std::printf("metrics of %zu x %zu features per side: FID %.1f s, KID %.1f s (%zu subsets of %zu), PRDC %.1f s\n",
              rows, dim, fid_seconds, kid_seconds, kid.subsets, kid.subset_size, prdc_seconds);
  std::printf("  (FID %.4f, KID %.6f, precision %.3f, recall %.3f)\n", fid, kid.mean, prdc.precision, prdc.recall);
  std::printf("  all metrics: %.1f s; extracting %zu images at the rate above: %.1f s; ratio %.3f\n", metrics, 2 * rows,
              extraction, metrics / extraction);
  fs::remove_all(dir);
  return 0;
}
