// bench/train: optimiser steps/s and peak memory of LDM training.
//  - CPU: the tiny config (schemas/ldm/tiny-ldm.yaml's UNet, 16x16x3 latents,
//    77 x 512 contexts), with and without gradient checkpointing; peak RSS of
//    a process that runs only that case.
//  - GPU (when one is present): PathLDM's UNet (schemas/ldm/pathldm.yaml,
//    64x64x3 latents) at one batch size: fp32 with the math attention
//    (PathLDM's recipe) against bf16 autocast with SDPA, and that with
//    gradient checkpointing; peak GPU memory from the caching allocator.
// Data are random tensors in memory: the benchmark measures the training
// step, not the store (bench/encode measures reading). Weights are random.
//
//   build/bench/train [--steps N] [--threads N] [--batch B] [--gpu-batch B]
#include <torch/torch.h>

#include <chrono>
#include <cstdio>
#include <cstring>
#include <string>
#include <vector>

#if defined(TESSERA_BENCH_CUDA)
#include <c10/cuda/CUDACachingAllocator.h>
#endif

#include "bench_support.h"
#include "config/ldm_config.h"
#include "model/attention.h"
#include "model/device.h"
#include "model/init.h"
#include "model/noise_schedule.h"
#include "model/trainer.h"
#include "model/unet.h"

using namespace tessera;

namespace {

struct Case {
  std::string config;  // schemas/ldm/NAME
  std::string device;
  std::string dtype;
  bool sdpa = true;
  bool checkpointing = false;
  int batch = 4;
};

struct Result {
  double steps_per_second = 0;
  double peak_mib = 0;  // GPU: the caching allocator's peak; CPU: measured by the parent
};

Result run_case(const Case& c, int steps, int threads) {
  const auto config = config::read_ldm_config(std::string(TESSERA_SOURCE_DIR) + "/schemas/ldm/" + c.config);
  const auto device = model::resolve_device(c.device);
  if (device.is_cpu()) model::set_cpu_threads(threads);
  model::set_attention_math_only(!c.sdpa);
  auto unet = std::make_shared<model::UNet>(*config.unet);
  model::initialize_unet(*unet, 1);
  unet->set_gradient_checkpointing(c.checkpointing);
  model::place_module(*unet, device);
  const auto& d = config.diffusion;
  const auto betas = model::make_beta_schedule(d.beta_schedule, int(d.timesteps), d.linear_start, d.linear_end);
  model::DiffusionProcess process(model::make_diffusion_schedule(betas), model::Parameterization::kEps, device);
  model::TrainerOptions options;
  options.max_grad_norm = 1.0;
  model::LdmTrainer trainer(unet, process, options);
  const int64_t side = config.unet->image_size;
  const model::TrainingBatch batch{
      model::to_device(torch::randn({c.batch, config.unet->in_channels, side, side}), device),
      model::to_device(torch::randn({c.batch, 77, config.unet->context_dim}), device)};
  const auto precision = model::parse_precision(c.dtype);
  const auto step = [&] {
    model::AutocastScope autocast(device, precision);
    trainer.step({batch});
  };
  step();  // warm-up: allocator, kernels
#if defined(TESSERA_BENCH_CUDA)
  if (device.is_cuda()) c10::cuda::CUDACachingAllocator::resetPeakStats(device.index() < 0 ? 0 : device.index());
#endif
  const auto start = std::chrono::steady_clock::now();
  for (int i = 0; i < steps; ++i) step();
  if (device.is_cuda()) torch::cuda::synchronize();
  Result r;
  r.steps_per_second = steps / std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
#if defined(TESSERA_BENCH_CUDA)
  if (device.is_cuda()) {
    const auto stats = c10::cuda::CUDACachingAllocator::getDeviceStats(device.index() < 0 ? 0 : device.index());
    r.peak_mib = double(stats.allocated_bytes[0].peak) / (1 << 20);
  }
#endif
  return r;
}

int arg(int argc, char** argv, const char* name, int fallback) {
  for (int i = 1; i + 1 < argc; ++i) {
    if (std::strcmp(argv[i], name) == 0) return std::stoi(argv[i + 1]);
  }
  return fallback;
}

}  // namespace

int main(int argc, char** argv) {
  const int steps = arg(argc, argv, "--steps", 20);
  const int threads = arg(argc, argv, "--threads", 0);
  // One case per child process, so that each peak RSS is its own.
  if (argc > 2 && std::strcmp(argv[1], "--case") == 0) {
    Case c{argv[2],           argv[3], argv[4], std::strcmp(argv[5], "1") == 0, std::strcmp(argv[6], "1") == 0,
           std::stoi(argv[7])};
    const auto r = run_case(c, steps, threads);
    std::printf("%.6f %.1f\n", r.steps_per_second, r.peak_mib);
    return 0;
  }

  std::vector<Case> cases = {{"tiny-ldm.yaml", "cpu", "fp32", true, false, arg(argc, argv, "--batch", 8)},
                             {"tiny-ldm.yaml", "cpu", "fp32", true, true, arg(argc, argv, "--batch", 8)}};
  const bool gpu = torch::cuda::is_available();
  if (gpu) {
    const int b = arg(argc, argv, "--gpu-batch", 8);
    cases.push_back({"pathldm.yaml", "cuda", "fp32", false, false, b});
    cases.push_back({"pathldm.yaml", "cuda", "bf16", true, false, b});
    cases.push_back({"pathldm.yaml", "cuda", "bf16", true, true, b});
  }
  std::printf("LDM training, %d timed steps per case (after one warm-up step)%s\n\n", steps,
              gpu ? "" : "; no GPU here, so the PathLDM comparison is not run");
  std::printf("%-14s %-5s %-5s %-5s %-4s %6s %10s %12s\n", "config", "dev", "dtype", "attn", "ckpt", "batch", "steps/s",
              "peak MiB");
  std::vector<std::pair<Case, Result>> results;
  for (const auto& c : cases) {
    const std::string log = "/tmp/tessera-bench-train.log";
    const auto stats = bench::run_measured(
        {"/proc/self/exe", "--case", c.config, c.device, c.dtype, c.sdpa ? "1" : "0", c.checkpointing ? "1" : "0",
         std::to_string(c.batch), "--steps", std::to_string(steps), "--threads", std::to_string(threads)},
        log);
    Result r;
    if (FILE* f = std::fopen(log.c_str(), "r")) {
      char line[256] = "";
      while (std::fgets(line, sizeof line, f)) {
        double rate = 0, peak = 0;
        if (std::sscanf(line, "%lf %lf", &rate, &peak) == 2) r = {rate, peak};
      }
      std::fclose(f);
    }
    if (stats.exit_code != 0 || r.steps_per_second == 0) {
      std::printf("%-14s case failed (exit %d, see %s)\n", c.config.c_str(), stats.exit_code, log.c_str());
      continue;
    }
    if (c.device == "cpu") r.peak_mib = stats.peak_rss_mib;
    std::printf("%-14s %-5s %-5s %-5s %-4s %6d %10.3f %12.0f\n", c.config.c_str(), c.device.c_str(), c.dtype.c_str(),
                c.sdpa && model::attention_uses_sdpa() ? "sdpa" : "math", c.checkpointing ? "yes" : "no", c.batch,
                r.steps_per_second, r.peak_mib);
    results.emplace_back(c, r);
  }
  if (results.size() >= 4 && results[2].first.device == "cuda") {
    const auto& base = results[2].second;
    for (size_t i = 3; i < results.size(); ++i) {
      std::printf("PathLDM %s vs fp32 math: peak memory %.0f%% less, throughput %.2fx\n",
                  results[i].first.checkpointing ? "bf16+SDPA+checkpointing" : "bf16+SDPA",
                  100.0 * (1.0 - results[i].second.peak_mib / base.peak_mib),
                  results[i].second.steps_per_second / base.steps_per_second);
    }
  }
  return 0;
}
