// One rank of the data-parallel test (tests/distributed_test.cpp): trains the
// tiny UNet for --steps steps on a fixed global batch of 4 latents per step,
// this rank's share of it (all 4 when run alone), and writes the final weights
// to --out with the per-step mean losses in the metadata. The rank and world
// come from the torchrun environment (model/distributed.h).

#include <torch/torch.h>

#include <cstdio>
#include <cstdlib>
#include <exception>
#include <map>
#include <memory>
#include <sstream>
#include <string>
#include <vector>

#include "model/device.h"
#include "model/distributed.h"
#include "model/init.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/sampler.h"
#include "model/tensor_io.h"
#include "model/trainer.h"
#include "model/unet.h"
#include "tiny_unet.h"

namespace {

using namespace tessera::model;

int run(const std::string& out, int64_t steps) {
  set_cpu_threads(1);
  DataParallel parallel(distributed_env_from_environment(), torch::kCPU);
  const int64_t world = parallel.world_size();
  const int64_t rank = parallel.rank();
  if (4 % world != 0) throw std::invalid_argument("the global batch of 4 does not split over " + std::to_string(world));

  // Ranks start from different weights: the broadcast makes them rank 0's.
  auto unet = std::make_shared<UNet>(tessera::testing::tiny_training_unet_config());
  initialize_unet(*unet, 1 + static_cast<uint64_t>(rank));
  parallel.broadcast_parameters(*unet);

  TrainerOptions options;
  options.base_learning_rate = 1e-3;
  // A large eps keeps AdamW's update a smooth function of the gradient, so the
  // summation order of the all-reduce cannot flip the sign of a ~0 gradient's step.
  options.eps = 1e-3;
  options.seed = 3;
  options.data_parallel_rank = rank;
  options.data_parallel_world_size = world;
  const DiffusionProcess process(make_diffusion_schedule(make_beta_schedule("linear", 1000, 0.0015, 0.0195)));
  LdmTrainer trainer(unet, process, options);
  trainer.set_after_backward([&parallel](torch::nn::Module& module) { parallel.average_gradients(module); });

  at::Generator data_generator = make_cpu_generator(7);
  const torch::Tensor latents = torch::randn({8, 4, 8, 8}, data_generator);
  const torch::Tensor contexts = torch::randn({8, 4, 32}, data_generator);
  const int64_t local = 4 / world;
  std::ostringstream losses;
  for (int64_t step = 0; step < steps; ++step) {
    std::vector<int64_t> indices;
    for (int64_t j = 0; j < local; ++j) indices.push_back((4 * step + rank * local + j) % 8);
    const torch::Tensor index = torch::tensor(indices, torch::kInt64);
    const double loss = trainer.step({{latents.index_select(0, index), contexts.index_select(0, index)}});
    const double mean = parallel.all_reduce_mean(loss);
    char text[64];
    std::snprintf(text, sizeof(text), "%s%.9g", step == 0 ? "" : " ", mean);
    losses << text;
  }
  parallel.barrier();

  std::vector<TensorData> tensors;
  for (const auto& item : unet->named_parameters()) tensors.push_back(from_torch(item.key(), item.value()));
  write_safetensors(out, tensors,
                    {{"rank", std::to_string(rank)},
                     {"world_size", std::to_string(world)},
                     {"backend", parallel.backend()},
                     {"losses", losses.str()}});
  std::printf("rank %lld of %lld (%s): losses %s\n", static_cast<long long>(rank), static_cast<long long>(world),
              parallel.backend().c_str(), losses.str().c_str());
  return 0;
}

}  // namespace

int main(int argc, char** argv) {
  std::string out;
  int64_t steps = 3;
  for (int i = 1; i + 1 < argc; i += 2) {
    const std::string flag = argv[i];
    if (flag == "--out") {
      out = argv[i + 1];
    } else if (flag == "--steps") {
      steps = std::atoll(argv[i + 1]);
    }
  }
  if (out.empty() || steps < 1) {
    std::fprintf(stderr, "usage: distributed_worker --out FILE.safetensors [--steps N]\n");
    return 2;
  }
  try {
    return run(out, steps);
  } catch (const std::exception& error) {
    std::fprintf(stderr, "distributed_worker: %s\n", error.what());
    return 1;
  }
}
