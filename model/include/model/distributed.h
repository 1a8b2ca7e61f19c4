#pragma once

// Data-parallel training over LibTorch's c10d, one process per device,
// launched as torchrun launches them: the environment gives RANK, WORLD_SIZE,
// LOCAL_RANK, MASTER_ADDR and MASTER_PORT. Rank 0 serves a c10d::TCPStore at
// MASTER_ADDR:MASTER_PORT (unless TORCHELASTIC_USE_AGENT_STORE=True, where
// torchrun's agent serves it and every rank is a client, as in PyTorch), and
// the ranks form a process group over it: NCCL for CUDA devices where
// LibTorch was built with it, Gloo otherwise (CUDA tensors then go through
// the host). Without RANK and WORLD_SIZE there is one process, rank 0 of 1,
// and every collective is a no-op.
//
// Collectives must be called by every rank in the same order.

#include <torch/types.h>

#include <chrono>
#include <cstdint>
#include <memory>
#include <string>

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tessera::model {

struct DistributedEnv {
  int64_t rank = 0;
  int64_t world_size = 1;
  int64_t local_rank = 0;
  std::string master_addr = "127.0.0.1";
  int master_port = 29500;
  bool agent_store = false;   // TORCHELASTIC_USE_AGENT_STORE=True
  int64_t restart_count = 0;  // TORCHELASTIC_RESTART_COUNT, for the agent store's key prefix

  bool distributed() const { return world_size > 1; }
};

// Reads the torchrun variables. Absent RANK and WORLD_SIZE mean a single
// process; one without the other, a non-number, a rank outside the world, or
// a world without MASTER_ADDR / MASTER_PORT throw std::invalid_argument
// naming the variable.
DistributedEnv distributed_env_from_environment();

// Empty when Gloo can create a TCP device for 127.0.0.1 on this host, else why
// not (including a LibTorch without Gloo at build time).
std::string gloo_unavailable_reason();

class DataParallel {
 public:
  // Joins the process group `env` describes; tensors of the collectives live
  // on `device`. Blocks until every rank has joined or `timeout` passes.
  // Throws std::runtime_error (with c10d's message) when the group cannot be
  // formed.
  DataParallel(const DistributedEnv& env, torch::Device device,
               std::chrono::milliseconds timeout = std::chrono::minutes(10));
  ~DataParallel();
  DataParallel(const DataParallel&) = delete;
  DataParallel& operator=(const DataParallel&) = delete;

  int64_t rank() const { return env_.rank; }
  int64_t world_size() const { return env_.world_size; }
  int64_t local_rank() const { return env_.local_rank; }
  bool is_main() const { return env_.rank == 0; }
  // "gloo", "nccl", or "none" for a single process.
  std::string backend() const;

  // Every rank's parameters and buffers become rank 0's (one broadcast).
  void broadcast_parameters(torch::nn::Module& module);
  // Every gradient becomes the mean over the ranks: all gradients flattened
  // into one buffer, one all-reduce (sum), divided by the world size,
  // unflattened. A parameter without a gradient counts as zeros and gets one.
  void average_gradients(torch::nn::Module& module);
  void barrier();
  // The mean of `value` over the ranks (float64), for logging.
  double all_reduce_mean(double value);

  class Collectives;

 private:
  DistributedEnv env_;
  torch::Device device_;
  std::unique_ptr<Collectives> collectives_;  // null for a single process
};

}  // namespace tessera::model
