#include "model/distributed.h"

#include <arpa/inet.h>
#include <fcntl.h>
#include <gtest/gtest.h>
#include <netinet/in.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <torch/torch.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <fstream>
#include <sstream>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

#include "model/safetensors.h"
#include "model/tensor_io.h"
#include "test_support.h"

extern char** environ;

namespace tessera::model {
namespace {

constexpr int kSteps = 4;
// What a launcher sets: the test sets its own.
constexpr const char* kLauncherVariables[] = {"RANK",
                                              "WORLD_SIZE",
                                              "LOCAL_RANK",
                                              "MASTER_ADDR",
                                              "MASTER_PORT",
                                              "OMP_NUM_THREADS",
                                              "TORCHELASTIC_USE_AGENT_STORE"};

// A TCP port on 127.0.0.1 that was free a moment ago.
int free_port() {
  const int fd = ::socket(AF_INET, SOCK_STREAM, 0);
  if (fd < 0) throw std::runtime_error("socket() failed");
  sockaddr_in address{};
  address.sin_family = AF_INET;
  address.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
  address.sin_port = 0;
  socklen_t length = sizeof(address);
  if (::bind(fd, reinterpret_cast<sockaddr*>(&address), sizeof(address)) != 0 ||
      ::getsockname(fd, reinterpret_cast<sockaddr*>(&address), &length) != 0) {
    ::close(fd);
    throw std::runtime_error("cannot bind a port on 127.0.0.1");
  }
  ::close(fd);
  return ntohs(address.sin_port);
}

// The worker, started with this process's environment less the torchrun
// variables, plus `extra`; its output goes to `log`.
pid_t start_worker(const std::string& out, const std::string& log, const std::vector<std::string>& extra) {
  std::vector<std::string> env;
  for (char** entry = environ; *entry != nullptr; ++entry) {
    const std::string text = *entry;
    bool drop = false;
    for (const char* name : kLauncherVariables) drop = drop || text.rfind(std::string(name) + "=", 0) == 0;
    if (!drop) env.push_back(text);
  }
  env.push_back("OMP_NUM_THREADS=1");
  env.insert(env.end(), extra.begin(), extra.end());
  const std::vector<std::string> args = {TESSERA_DISTRIBUTED_WORKER, "--out", out, "--steps", std::to_string(kSteps)};
  std::vector<char*> argv, envp;
  for (const std::string& arg : args) argv.push_back(const_cast<char*>(arg.c_str()));
  argv.push_back(nullptr);
  for (const std::string& entry : env) envp.push_back(const_cast<char*>(entry.c_str()));
  envp.push_back(nullptr);
  const int log_fd = ::open(log.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  if (log_fd < 0) throw std::runtime_error("cannot open " + log);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(log_fd, STDOUT_FILENO);
    ::dup2(log_fd, STDERR_FILENO);
    ::execve(argv[0], argv.data(), envp.data());
    ::_exit(127);
  }
  ::close(log_fd);
  if (pid < 0) throw std::runtime_error("fork() failed");
  return pid;
}

// The worker's exit status, or -1 after killing it when it outlives `limit`.
int wait_worker(pid_t pid, std::chrono::seconds limit) {
  const auto deadline = std::chrono::steady_clock::now() + limit;
  while (true) {
    int status = 0;
    const pid_t done = ::waitpid(pid, &status, WNOHANG);
    if (done == pid) return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
    if (std::chrono::steady_clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
}

std::string read_text(const std::string& path) {
  std::ifstream in(path);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

std::vector<double> parse_losses(const std::string& text) {
  std::istringstream in(text);
  std::vector<double> values;
  for (double value = 0.0; in >> value;) values.push_back(value);
  return values;
}

TEST(DistributedTest, EnvironmentDefaultsToOneProcess) {
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
  DistributedEnv env = distributed_env_from_environment();
  EXPECT_EQ(env.rank, 0);
  EXPECT_EQ(env.world_size, 1);
  DataParallel single(env, torch::kCPU);
  EXPECT_EQ(single.backend(), "none");
  EXPECT_EQ(single.all_reduce_mean(2.5), 2.5);

  ::setenv("RANK", "1", 1);
  EXPECT_THROW(distributed_env_from_environment(), std::invalid_argument);  // WORLD_SIZE missing
  ::setenv("WORLD_SIZE", "2", 1);
  EXPECT_THROW(distributed_env_from_environment(), std::invalid_argument);  // MASTER_ADDR missing
  ::setenv("MASTER_ADDR", "127.0.0.1", 1);
  ::setenv("MASTER_PORT", "29511", 1);
  ::setenv("LOCAL_RANK", "1", 1);
  env = distributed_env_from_environment();
  EXPECT_EQ(env.rank, 1);
  EXPECT_EQ(env.world_size, 2);
  EXPECT_EQ(env.local_rank, 1);
  EXPECT_EQ(env.master_port, 29511);
  ::setenv("RANK", "2", 1);
  try {
    distributed_env_from_environment();
    ADD_FAILURE() << "RANK 2 of 2 was accepted";
  } catch (const std::invalid_argument& error) {
    EXPECT_NE(std::string(error.what()).find("RANK='2'"), std::string::npos) << error.what();
  }
  for (const char* name : {"RANK", "WORLD_SIZE", "LOCAL_RANK", "MASTER_ADDR", "MASTER_PORT"}) ::unsetenv(name);
}

// Two Gloo ranks of 2 samples each train like one process with the 4.
TEST(DistributedTest, TwoRanksMatchOneProcess) {
  const std::string reason = gloo_unavailable_reason();
  if (!reason.empty()) GTEST_SKIP() << reason;
  testing::TempDir dir;
  const std::string port = std::to_string(free_port());
  std::vector<pid_t> ranks;
  for (int rank = 0; rank < 2; ++rank) {
    const std::string name = "rank" + std::to_string(rank);
    ranks.push_back(start_worker((dir / (name + ".safetensors")).string(), (dir / (name + ".log")).string(),
                                 {"RANK=" + std::to_string(rank), "WORLD_SIZE=2", "LOCAL_RANK=" + std::to_string(rank),
                                  "MASTER_ADDR=127.0.0.1", "MASTER_PORT=" + port}));
  }
  for (int rank = 0; rank < 2; ++rank) {
    const std::string log = (dir / ("rank" + std::to_string(rank) + ".log")).string();
    ASSERT_EQ(wait_worker(ranks[rank], std::chrono::seconds(240)), 0) << "rank " << rank << ":\n" << read_text(log);
  }
  const pid_t single = start_worker((dir / "single.safetensors").string(), (dir / "single.log").string(), {});
  ASSERT_EQ(wait_worker(single, std::chrono::seconds(240)), 0) << read_text((dir / "single.log").string());

  const SafetensorsFile rank0 = SafetensorsFile::open((dir / "rank0.safetensors").string());
  const SafetensorsFile rank1 = SafetensorsFile::open((dir / "rank1.safetensors").string());
  const SafetensorsFile alone = SafetensorsFile::open((dir / "single.safetensors").string());
  EXPECT_EQ(rank0.metadata().at("backend"), "gloo");
  EXPECT_EQ(alone.metadata().at("world_size"), "1");

  // The all-reduced mean loss of each step is the single process's loss.
  const std::vector<double> parallel_losses = parse_losses(rank0.metadata().at("losses"));
  const std::vector<double> single_losses = parse_losses(alone.metadata().at("losses"));
  ASSERT_EQ(parallel_losses.size(), size_t(kSteps));
  ASSERT_EQ(single_losses.size(), size_t(kSteps));
  for (int step = 0; step < kSteps; ++step) EXPECT_NEAR(parallel_losses[step], single_losses[step], 1e-5) << step;
  EXPECT_EQ(rank1.metadata().at("losses"), rank0.metadata().at("losses"));

  ASSERT_EQ(rank0.tensors().size(), alone.tensors().size());
  ASSERT_EQ(rank1.tensors().size(), alone.tensors().size());
  double worst = 0.0;
  for (const TensorView& view : alone.tensors()) {
    const torch::Tensor expected = to_torch(view);
    const torch::Tensor first = to_torch(*rank0.find(view.name));
    const torch::Tensor second = to_torch(*rank1.find(view.name));
    EXPECT_TRUE(torch::equal(first, second)) << view.name << " differs between the ranks";
    worst = std::max(worst, (first - expected).abs().max().item<double>());
  }
  std::printf("  max |2 ranks - 1 process| over the weights: %.3g\n", worst);
  EXPECT_LE(worst, 1e-5);
}

}  // namespace
}  // namespace tessera::model
