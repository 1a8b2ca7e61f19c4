#include "test_support.h"

#include <sys/wait.h>
#include <unistd.h>

#include <array>
#include <stdexcept>

#include "base/file_io.h"
#include "text/bpe_learning.h"

namespace tessera::testing {
namespace fs = std::filesystem;

namespace {

bool arms_crash_point(const std::vector<std::string>& env) {
  for (const auto& e : env) {
    if (e.rfind("TESSERA_CRASH_AT=", 0) == 0) return true;
  }
  return false;
}

}  // namespace

CommandResult run_binary(std::string binary, const std::vector<std::string>& args, const std::vector<std::string>& env,
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

CommandResult run_tessera(const std::vector<std::string>& args, const std::vector<std::string>& env,
                          const std::function<void(const std::string& output, int pid)>& on_output) {
  return run_binary(arms_crash_point(env) ? TESSERA_CRASHABLE_BINARY : TESSERA_BINARY, args, env, on_output);
}

CommandResult run_release_tessera(const std::vector<std::string>& args, const std::vector<std::string>& env) {
  return run_binary(TESSERA_BINARY, args, env, {});
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

std::filesystem::path ingest_test_slide(const std::filesystem::path& dir) {
  const auto slides = dir / "slides";
  make_slide(slides, std::string(kTestSlideId) + ".tiff", small_spec());
  const auto store = dir / "store";
  const auto ingest = run_tessera({"ingest", "--store", store.string(), "--slides", slides.string(), "--tile", "64",
                                   "--mpp", "2", "--progress", "quiet", "--no-qc"});
  if (ingest.exit_code != 0) throw std::runtime_error("ingest of the test slide failed:\n" + ingest.output);
  return store;
}

fs::path write_learned_vocabulary(const fs::path& path, const std::vector<std::string>& corpus) {
  static const std::vector<std::string> kPromptWords = {
      "high tumor; medium tumor; low tumor; high til; medium til; low til",
      "invasive ductal carcinoma, invasive lobular carcinoma, grade 1, grade 2, grade 3",
      "ER positive, PR negative, HER2 negative, tumor size 2.1 cm, lymph nodes negative"};
  const auto& texts = corpus.empty() ? kPromptWords : corpus;
  std::vector<std::string> repeated;
  for (int i = 0; i < 2; ++i) repeated.insert(repeated.end(), texts.begin(), texts.end());
  write_file(path, text::clip_vocabulary_file(text::learn_bpe_merges(repeated)));
  return path;
}

pipeline::IngestOptions quiet_ingest(const fs::path& store, std::vector<std::string> slides) {
  pipeline::IngestOptions o;
  o.store = store;
  o.slides = std::move(slides);
  o.progress = pipeline::ProgressDisplay::kQuiet;
  return o;
}

}  // namespace tessera::testing
