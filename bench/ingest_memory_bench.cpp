// Peak RSS of one `tessera ingest` over a long cohort of small slides, after
// every 50 slides: it must stay flat from the first slide to the last (no
// per-slide growth such as TRIDENT #176's 6 -> 64 GB over PANDA).
// The slides are hard links of one synthetic slide under distinct ids, so
// every slide is ingested in full and alike.
//
//   bench/ingest_memory [--slides N] [--side PX] [--jobs J]

#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <vector>

#include "bench_support.h"
#include "examples/synthetic_slide.h"

namespace fs = std::filesystem;

namespace {

struct Args {
  int slides = 300;
  int side = 2048;
  int jobs = 2;
};

Args parse(int argc, char** argv) {
  Args a;
  tessera::bench::parse_int_flags(argc, argv, {{"--slides", &a.slides}, {"--side", &a.side}, {"--jobs", &a.jobs}},
                                  "bench/ingest_memory [--slides N] [--side PX] [--jobs J]");
  return a;
}

// VmRSS and VmHWM (peak) of a live process, in MiB.
std::pair<double, double> rss_of(pid_t pid) {
  std::ifstream status("/proc/" + std::to_string(pid) + "/status");
  std::string line;
  double rss = 0, peak = 0;
  while (std::getline(status, line)) {
    if (line.rfind("VmRSS:", 0) == 0) rss = std::atof(line.c_str() + 6) / 1024.0;
    if (line.rfind("VmHWM:", 0) == 0) peak = std::atof(line.c_str() + 6) / 1024.0;
  }
  return {rss, peak};
}

}  // namespace

int main(int argc, char** argv) {
  const Args args = parse(argc, argv);
  std::setvbuf(stdout, nullptr, _IOLBF, 0);
  const fs::path work = fs::temp_directory_path() / ("tessera-bench-ingest-memory-" + std::to_string(getpid()));
  fs::create_directories(work / "slides");
  tessera::examples::SyntheticSlideSpec spec;
  spec.width = args.side;
  spec.height = args.side;
  const fs::path first = work / "slides" / "BENCH-00000.tiff";
  tessera::examples::write_synthetic_slide(first.string(), spec);
  for (int i = 1; i < args.slides; ++i) {
    char name[64];
    std::snprintf(name, sizeof name, "BENCH-%05d.tiff", i);
    fs::create_hard_link(first, work / "slides" / name);
  }
  std::printf("ingest memory bench: %d slides of %d x %d px, 256 px tiles at 0.5 um/px, %d readers\n", args.slides,
              args.side, args.side, args.jobs);

  int pipe_fds[2];
  if (pipe(pipe_fds) != 0) return 1;
  const std::vector<std::string> command = {
      TESSERA_BINARY, "ingest", "--store", (work / "store").string(), "--slides", (work / "slides").string(), "--no-qc",
      "--progress",   "lines",  "--jobs",  std::to_string(args.jobs)};
  const pid_t pid = fork();
  if (pid == 0) {
    dup2(pipe_fds[1], STDOUT_FILENO);
    dup2(pipe_fds[1], STDERR_FILENO);
    close(pipe_fds[0]);
    std::vector<char*> argv_child;
    for (const auto& a : command) argv_child.push_back(const_cast<char*>(a.c_str()));
    argv_child.push_back(nullptr);
    execv(argv_child[0], argv_child.data());
    _exit(127);
  }
  close(pipe_fds[1]);
  FILE* log = fdopen(pipe_fds[0], "r");
  char line[4096];
  int done = 0;
  double first_rss = 0, first_peak = 0, last_rss = 0, last_peak = 0;
  std::printf("%8s %10s %10s\n", "slides", "RSS MiB", "peak MiB");
  while (std::fgets(line, sizeof line, log)) {
    if (!std::strstr(line, ": complete, ") && !std::strstr(line, ": FAILED")) continue;
    ++done;
    if (done % 50 == 0 || done == args.slides) {
      const auto [rss, peak] = rss_of(pid);
      if (first_peak == 0) {
        first_rss = rss;
        first_peak = peak;
      }
      last_rss = rss;
      last_peak = peak;
      std::printf("%8d %10.1f %10.1f\n", done, rss, peak);
    }
  }
  int status = 0;
  waitpid(pid, &status, 0);
  std::printf("after the last slide / after the first 50: RSS %.3f, peak %.3f (%+.1f MiB)\n", last_rss / first_rss,
              last_peak / first_peak, last_peak - first_peak);
  fs::remove_all(work);
  return WIFEXITED(status) && WEXITSTATUS(status) == 0 ? 0 : 1;
}
