// bench/model: the models' raw speed on this machine, with random weights
// (speed does not depend on their values):
//  - first-stage encoder tiles/s for VQ-f4 (PathLDM) and KL-f8 (SD v1) on 256 px tiles;
//  - UNet steps/s for PathLDM's text-conditioned UNet on 64x64x3 latents with a
//    77-token, 512-wide context (one forward = one sampling step without CFG).
//
//   build/bench/model [--threads N] [--batch B] [--seconds S]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <functional>
#include <string>
#include <thread>

#include "model/autoencoder.h"
#include "model/unet.h"

using namespace tessera::model;

namespace {

// Runs `step` until `seconds` have passed (after one warm-up call) and returns
// calls per second.
double rate(const std::function<void()>& step, double seconds) {
  step();
  int calls = 0;
  const auto start = std::chrono::steady_clock::now();
  double elapsed = 0;
  do {
    step();
    ++calls;
    elapsed = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  } while (elapsed < seconds);
  return calls / elapsed;
}

AutoencoderConfig vq_f4() {
  AutoencoderConfig c;
  c.kind = AutoencoderKind::kVq;
  c.ch = 128, c.ch_mult = {1, 2, 4}, c.num_res_blocks = 2, c.z_channels = 3, c.double_z = false;
  c.embed_dim = 3, c.n_embed = 8192, c.resolution = 256;
  return c;
}

AutoencoderConfig kl_f8() {
  AutoencoderConfig c;
  c.kind = AutoencoderKind::kKl;
  c.ch = 128, c.ch_mult = {1, 2, 4, 4}, c.num_res_blocks = 2, c.z_channels = 4, c.double_z = true;
  c.embed_dim = 4, c.resolution = 256;
  return c;
}

UNetConfig pathldm_unet() {
  UNetConfig c;
  c.image_size = 64, c.in_channels = 3, c.out_channels = 3, c.model_channels = 192;
  c.attention_resolutions = {8, 4, 2}, c.num_res_blocks = 2, c.channel_mult = {1, 2, 3, 5};
  c.num_heads = 1, c.use_spatial_transformer = true, c.transformer_depth = 1, c.context_dim = 512;
  return c;
}

int64_t parameters(const torch::nn::Module& m) {
  int64_t n = 0;
  for (const auto& p : m.parameters()) n += p.numel();
  return n;
}

}  // namespace

int main(int argc, char** argv) {
  int threads = int(std::thread::hardware_concurrency());
  int64_t batch = 4;
  double seconds = 10;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--threads")
      threads = std::atoi(argv[i + 1]);
    else if (flag == "--batch")
      batch = std::atoll(argv[i + 1]);
    else if (flag == "--seconds")
      seconds = std::atof(argv[i + 1]);
    else {
      std::fprintf(stderr, "unknown flag %s\n", flag.c_str());
      return 2;
    }
  }
  at::set_num_threads(threads);
  torch::NoGradGuard no_grad;
  std::printf("CPU, %d threads, batch %lld, fp32\n\n", at::get_num_threads(), (long long)batch);
  std::printf("%-34s %14s %12s\n", "model (parameters of the whole model)", "parameters", "rate");

  for (const auto& [name, config] :
       {std::pair{"VQ-f4 encode (256 px tiles)", vq_f4()}, std::pair{"KL-f8 encode (256 px tiles)", kl_f8()}}) {
    Autoencoder model(config);
    model.eval();
    const auto tiles = torch::randn({batch, 3, 256, 256});
    const double calls = rate([&] { model.encode(tiles); }, seconds);
    std::printf("%-34s %14lld %8.2f tiles/s\n", name, (long long)parameters(model), calls * double(batch));
  }

  UNet unet(pathldm_unet());
  unet.eval();
  const auto x = torch::randn({batch, 3, 64, 64});
  const auto t = torch::full({batch}, 500, torch::kLong);
  const auto context = torch::randn({batch, 77, 512});
  const double steps = rate([&] { unet.forward(x, t, context); }, seconds);
  std::printf("%-34s %14lld %8.3f steps/s (%.2f latents/s)\n", "PathLDM UNet (64x64x3, ctx 77x512)",
              (long long)parameters(unet), steps, steps * double(batch));
  return 0;
}
