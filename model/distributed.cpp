#include "model/distributed.h"

#include <torch/torch.h>

#include <torch/csrc/distributed/c10d/PrefixStore.hpp>
#include <torch/csrc/distributed/c10d/TCPStore.hpp>
#include <torch/csrc/distributed/c10d/Types.hpp>

#ifdef TESSERA_WITH_GLOO
#include <torch/csrc/distributed/c10d/ProcessGroupGloo.hpp>
#endif
#ifdef TESSERA_WITH_NCCL
#include <torch/csrc/distributed/c10d/ProcessGroupNCCL.hpp>
#endif

#include <cstdlib>
#include <exception>
#include <limits>
#include <stdexcept>
#include <utility>
#include <vector>

namespace tessera::model {

class DataParallel::Collectives {
 public:
  virtual ~Collectives() = default;
  virtual std::string backend() const = 0;
  virtual void all_reduce_sum(torch::Tensor& tensor) = 0;
  virtual void broadcast(torch::Tensor& tensor, int64_t root) = 0;
  virtual void barrier() = 0;
};

namespace {

std::string environment(const char* name) {
  const char* value = std::getenv(name);
  return value == nullptr ? std::string() : std::string(value);
}

int64_t integer_variable(const char* name, int64_t lowest, int64_t highest) {
  const std::string text = environment(name);
  size_t used = 0;
  int64_t value = 0;
  try {
    value = std::stoll(text, &used);
  } catch (const std::exception&) {
    used = 0;
  }
  if (text.empty() || used != text.size() || value < lowest || value > highest) {
    throw std::invalid_argument(std::string("distributed: ") + name + "='" + text + "' is not an integer in [" +
                                std::to_string(lowest) + ", " + std::to_string(highest) + "]");
  }
  return value;
}

// One implementation for every c10d group type: Gloo and NCCL are ProcessGroups
// in LibTorch 1.13 and Backends from 2.0 on, with the same collective calls.
template <typename Group>
class GroupCollectives : public DataParallel::Collectives {
 public:
  GroupCollectives(c10::intrusive_ptr<Group> group, std::string name, bool through_host)
      : group_(std::move(group)), name_(std::move(name)), through_host_(through_host) {}

  std::string backend() const override { return name_; }

  void all_reduce_sum(torch::Tensor& tensor) override {
    std::vector<torch::Tensor> tensors = {staged(tensor)};
    group_->allreduce(tensors)->wait();
    unstage(tensors[0], tensor);
  }

  void broadcast(torch::Tensor& tensor, int64_t root) override {
    std::vector<torch::Tensor> tensors = {staged(tensor)};
    c10d::BroadcastOptions options;
    options.rootRank = root;
    group_->broadcast(tensors, options)->wait();
    unstage(tensors[0], tensor);
  }

  void barrier() override { group_->barrier()->wait(); }

 private:
  torch::Tensor staged(const torch::Tensor& tensor) const {
    return through_host_ && !tensor.is_cpu() ? tensor.to(torch::kCPU) : tensor;
  }
  static void unstage(const torch::Tensor& staged, torch::Tensor& tensor) {
    if (!staged.is_same(tensor)) tensor.copy_(staged);
  }

  c10::intrusive_ptr<Group> group_;
  std::string name_;
  bool through_host_;
};

#ifdef TESSERA_WITH_GLOO
bool is_loopback(const std::string& address) {
  return address == "localhost" || address == "::1" || address.rfind("127.", 0) == 0;
}

std::shared_ptr<::gloo::transport::Device> gloo_device(const DistributedEnv& env) {
  const std::string interface = environment("GLOO_SOCKET_IFNAME");
  if (!interface.empty()) return c10d::ProcessGroupGloo::createDeviceForInterface(interface);
  // On one host the ranks meet on the loopback address, whatever the host name resolves to.
  if (is_loopback(env.master_addr)) return c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1");
  return c10d::ProcessGroupGloo::createDefaultDevice();
}
#endif

// The torch-flat buffer of `tensors` (all of one dtype and device) and back.
torch::Tensor flatten(const std::vector<torch::Tensor>& tensors) {
  std::vector<torch::Tensor> flat;
  flat.reserve(tensors.size());
  for (const torch::Tensor& tensor : tensors) flat.push_back(tensor.reshape({-1}));
  return torch::cat(flat);
}

void unflatten_into(const torch::Tensor& flat, const std::vector<torch::Tensor>& tensors) {
  int64_t offset = 0;
  for (const torch::Tensor& tensor : tensors) {
    const int64_t count = tensor.numel();
    tensor.copy_(flat.narrow(0, offset, count).view(tensor.sizes()));
    offset += count;
  }
}

}  // namespace

DistributedEnv distributed_env_from_environment() {
  DistributedEnv env;
  const bool has_rank = !environment("RANK").empty();
  const bool has_world = !environment("WORLD_SIZE").empty();
  if (!has_rank && !has_world) return env;
  if (!has_rank || !has_world) {
    throw std::invalid_argument(std::string("distributed: ") + (has_rank ? "RANK" : "WORLD_SIZE") + " is set without " +
                                (has_rank ? "WORLD_SIZE" : "RANK"));
  }
  const int64_t limit = std::numeric_limits<int32_t>::max();
  env.world_size = integer_variable("WORLD_SIZE", 1, limit);
  env.rank = integer_variable("RANK", 0, env.world_size - 1);
  env.local_rank = environment("LOCAL_RANK").empty() ? 0 : integer_variable("LOCAL_RANK", 0, limit);
  env.agent_store = environment("TORCHELASTIC_USE_AGENT_STORE") == "True";
  if (!environment("TORCHELASTIC_RESTART_COUNT").empty()) {
    env.restart_count = integer_variable("TORCHELASTIC_RESTART_COUNT", 0, limit);
  }
  if (!env.distributed()) return env;
  env.master_addr = environment("MASTER_ADDR");
  if (env.master_addr.empty()) throw std::invalid_argument("distributed: MASTER_ADDR is not set");
  env.master_port = static_cast<int>(integer_variable("MASTER_PORT", 1, 65535));
  return env;
}

std::string gloo_unavailable_reason() {
#ifdef TESSERA_WITH_GLOO
  try {
    if (c10d::ProcessGroupGloo::createDeviceForHostname("127.0.0.1") == nullptr) {
      return "Gloo returned no device for 127.0.0.1";
    }
    return {};
  } catch (const std::exception& error) {
    return std::string("Gloo cannot create a device for 127.0.0.1: ") + error.what();
  }
#else
  return "this build of tessera found no Gloo headers beside LibTorch's";
#endif
}

DataParallel::DataParallel(const DistributedEnv& env, torch::Device device, std::chrono::milliseconds timeout)
    : env_(env), device_(device) {
  if (!env_.distributed()) return;
  c10d::TCPStoreOptions store_options;
  store_options.port = static_cast<std::uint16_t>(env_.master_port);
  store_options.isServer = env_.rank == 0 && !env_.agent_store;
  store_options.numWorkers = static_cast<std::size_t>(env_.world_size);
  store_options.waitWorkers = !env_.agent_store;
  store_options.timeout = timeout;
  c10::intrusive_ptr<c10d::Store> store;
  try {
    store = c10::make_intrusive<c10d::TCPStore>(env_.master_addr, store_options);
  } catch (const std::exception& error) {
    throw std::runtime_error("distributed: rank " + std::to_string(env_.rank) + " cannot reach the TCP store at " +
                             env_.master_addr + ":" + std::to_string(env_.master_port) + ": " + error.what());
  }
  if (env_.agent_store) {
    store = c10::make_intrusive<c10d::PrefixStore>("/worker/attempt_" + std::to_string(env_.restart_count), store);
  }
  try {
#ifdef TESSERA_WITH_NCCL
    if (device_.is_cuda()) {
      auto options = c10d::ProcessGroupNCCL::Options::create();
      options->timeout = timeout;
      collectives_ = std::make_unique<GroupCollectives<c10d::ProcessGroupNCCL>>(
          c10::make_intrusive<c10d::ProcessGroupNCCL>(store, int(env_.rank), int(env_.world_size), options), "nccl",
          false);
      return;
    }
#endif
#ifdef TESSERA_WITH_GLOO
    auto options = c10d::ProcessGroupGloo::Options::create(timeout);
    options->devices.push_back(gloo_device(env_));
    collectives_ = std::make_unique<GroupCollectives<c10d::ProcessGroupGloo>>(
        c10::make_intrusive<c10d::ProcessGroupGloo>(store, int(env_.rank), int(env_.world_size), options), "gloo",
        true);
#else
    throw std::runtime_error("this build of tessera has neither Gloo nor NCCL");
#endif
  } catch (const std::exception& error) {
    throw std::runtime_error("distributed: rank " + std::to_string(env_.rank) + " of " +
                             std::to_string(env_.world_size) + " cannot form the process group: " + error.what());
  }
}

DataParallel::~DataParallel() = default;

std::string DataParallel::backend() const { return collectives_ ? collectives_->backend() : "none"; }

void DataParallel::broadcast_parameters(torch::nn::Module& module) {
  if (!collectives_) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> tensors;
  for (const torch::Tensor& parameter : module.parameters(/*recurse=*/true)) tensors.push_back(parameter);
  for (const torch::Tensor& buffer : module.buffers(/*recurse=*/true)) tensors.push_back(buffer);
  if (tensors.empty()) return;
  // One buffer per dtype would be needed for mixed modules; tessera's are float32 throughout.
  for (const torch::Tensor& tensor : tensors) {
    if (tensor.scalar_type() != tensors[0].scalar_type() || tensor.device() != tensors[0].device()) {
      throw std::invalid_argument("distributed: broadcast_parameters needs one dtype and device for every tensor");
    }
  }
  torch::Tensor flat = flatten(tensors);
  collectives_->broadcast(flat, 0);
  unflatten_into(flat, tensors);
}

void DataParallel::average_gradients(torch::nn::Module& module) {
  if (!collectives_) return;
  torch::NoGradGuard no_grad;
  std::vector<torch::Tensor> gradients;
  for (torch::Tensor& parameter : module.parameters(/*recurse=*/true)) {
    if (!parameter.requires_grad()) continue;
    if (!parameter.grad().defined()) parameter.mutable_grad() = torch::zeros_like(parameter);
    gradients.push_back(parameter.grad());
  }
  if (gradients.empty()) return;
  for (const torch::Tensor& gradient : gradients) {
    if (gradient.scalar_type() != gradients[0].scalar_type() || gradient.device() != gradients[0].device()) {
      throw std::invalid_argument("distributed: average_gradients needs one dtype and device for every gradient");
    }
  }
  torch::Tensor flat = flatten(gradients);
  collectives_->all_reduce_sum(flat);
  flat.div_(static_cast<double>(env_.world_size));
  unflatten_into(flat, gradients);
}

void DataParallel::barrier() {
  if (collectives_) collectives_->barrier();
}

double DataParallel::all_reduce_mean(double value) {
  if (!collectives_) return value;
  const torch::Device where = backend() == "nccl" ? device_ : torch::Device(torch::kCPU);
  torch::Tensor tensor = torch::full({1}, value, torch::TensorOptions().dtype(torch::kFloat64).device(where));
  collectives_->all_reduce_sum(tensor);
  return tensor.item<double>() / static_cast<double>(env_.world_size);
}

}  // namespace tessera::model
