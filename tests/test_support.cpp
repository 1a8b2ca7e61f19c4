#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <cstdlib>
#include <random>

namespace tessera::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "tessera-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::optional<fs::path> shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  const fs::path beside = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared" / "data";
  if (fs::is_directory(beside / "slides")) return beside;
  return std::nullopt;
}

namespace {

bool arms_crash_point(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("TESSERA_CRASH_AT=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

CommandResult run_tessera(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          const std::function<void(const std::string& output, int pid)>& on_output) {
  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) throw std::runtime_error("pipe failed");
  const pid_t pid = fork();
  if (pid < 0) throw std::runtime_error("fork failed");
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    close(pipe_fds[1]);
    for (const auto& e : env) putenv(const_cast<char*>(e.c_str()));
    std::vector<char*> argv;
    std::string binary = arms_crash_point(env) ? TESSERA_CRASHABLE_BINARY : TESSERA_BINARY;
    argv.push_back(binary.data());
    std::vector<std::string> copies = args;
    for (auto& a : copies) argv.push_back(a.data());
    argv.push_back(nullptr);
    execv(binary.c_str(), argv.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  CommandResult result;
  std::array<char, 4096> buffer;
  ssize_t n;
  while ((n = read(pipe_fds[0], buffer.data(), buffer.size())) > 0) {
    result.output.append(buffer.data(), size_t(n));
    if (on_output) on_output(result.output, int(pid));
  }
  close(pipe_fds[0]);
  int status = 0;
  waitpid(pid, &status, 0);
  result.exit_code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  return result;
}

nlohmann::json json_of(const CommandResult& result) {
  const std::string& out = result.output;
  size_t begin = out.compare(0, 1, "{") == 0 ? 0 : out.find("\n{");
  if (begin != std::string::npos && begin > 0) ++begin;
  const size_t end = out.rfind("\n}");
  if (begin == std::string::npos || end == std::string::npos || end < begin) {
    ADD_FAILURE() << "no JSON document in the output:\n" << out;
    return nlohmann::json::object();
  }
  return nlohmann::json::parse(out.substr(begin, end + 2 - begin));
}

fs::path make_slide(const fs::path& dir, const std::string& name, const examples::SyntheticSlideSpec& spec) {
  const fs::path path = dir / name;
  fs::create_directories(dir);
  examples::write_synthetic_slide(path.string(), spec);
  return path;
}

pipeline::IngestOptions quiet_ingest(const fs::path& store, std::vector<std::string> slides) {
  pipeline::IngestOptions o;
  o.store = store;
  o.slides = std::move(slides);
  o.progress = pipeline::ProgressDisplay::kQuiet;
  return o;
}

examples::SyntheticSlideSpec small_spec() {
  examples::SyntheticSlideSpec spec;
  spec.width = 2048;
  spec.height = 1536;
  spec.pen_width_px = 40;
  return spec;
}

}  // namespace tessera::testing
