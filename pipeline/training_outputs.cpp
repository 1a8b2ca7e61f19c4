#include "training_outputs.h"

#include <spdlog/spdlog.h>

#include <cstdio>
#include <fstream>
#include <numeric>
#include <sstream>
#include <string>

#include "base/error.h"
#include "base/file_io.h"
#include "imaging/image_grid.h"
#include "imaging/loss_plot.h"
#include "imaging/vips_runtime.h"
#include "runtime/image_sampler.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr const char* kLossHeader = "step,epoch,loss,learning_rate,grad_norm";

}  // namespace

TrainingOutputs::TrainingOutputs(fs::path run, bool writes) : run_(std::move(run)), writes_(writes) {}

void TrainingOutputs::resume_at(int64_t step) {
  if (!writes_) return;
  const fs::path path = run_ / "loss.csv";
  std::ifstream in(path);
  std::string kept = std::string(kLossHeader) + "\n";
  std::string line;
  int line_number = 0;
  while (std::getline(in, line)) {
    if (++line_number == 1 || line.empty()) continue;
    try {
      if (std::stoll(line.substr(0, line.find(','))) <= step) kept += line + "\n";
    } catch (const std::exception&) {
      throw Error(path.string() + ":" + std::to_string(line_number) + ": not a loss row: " + line);
    }
  }
  tessera::write_file_atomically(path, kept);
}

void TrainingOutputs::record_loss(const LossRow& row) {
  if (!writes_) return;
  const fs::path path = run_ / "loss.csv";
  const bool fresh = !fs::exists(path);
  std::ofstream out(path, std::ios::app);
  if (fresh) out << kLossHeader << '\n';
  char text[160];
  std::snprintf(text, sizeof text, "%lld,%llu,%.9g,%.9g,%.9g\n", (long long)row.step, (unsigned long long)row.epoch,
                row.loss, row.learning_rate, row.grad_norm);
  out << text;
  if (!out.flush()) throw Error("cannot append to " + path.string());
}

}  // namespace tessera::pipeline

namespace tessera::pipeline {

void TrainingOutputs::plot_losses() const {
  if (!writes_) return;
  // A picture, like a sample grid, is never worth stopping the run for.
  try {
    draw_losses();
  } catch (const std::exception& e) {
    spdlog::warn("train: loss.png not drawn: {}", e.what());
  }
}

void TrainingOutputs::draw_losses() const {
  const fs::path path = run_ / "loss.csv";
  std::ifstream in(path);
  stages::LossSeries series{"loss", {}};
  std::string line;
  std::getline(in, line);  // header
  for (int line_number = 2; std::getline(in, line); ++line_number) {
    std::istringstream fields(line);
    std::string step, epoch, loss;
    if (!std::getline(fields, step, ',') || !std::getline(fields, epoch, ',') || !std::getline(fields, loss, ',')) {
      continue;  // a row cut short by a kill
    }
    try {
      series.points.push_back({std::stoll(step), std::stod(loss)});
    } catch (const std::exception&) {
      throw Error(path.string() + ":" + std::to_string(line_number) + ": not a loss row: " + line);
    }
  }
  if (series.points.empty()) return;
  stages::LossPlotOptions options;
  options.title = "training loss (" + std::to_string(series.points.back().step) + " steps)";
  options.log_y = true;
  stages::write_loss_plot({series}, options, (run_ / "loss.png").string());
}

void TrainingOutputs::sample_grid(const std::string& checkpoint, int64_t step) const {
  if (!writes_ || grid_.contexts.empty()) return;
  try {
    runtime::ImageSamplerOptions options;
    options.config = grid_.config;
    options.unet_weights = checkpoint;
    options.vae_config = grid_.vae_config;
    options.vae_weights = grid_.vae_weights;
    options.steps = grid_.steps;
    options.guidance = grid_.guidance;
    options.device = grid_.device;
    options.threads = grid_.threads;
    runtime::ImageSampler sampler(options);
    std::vector<const store::TensorRecord*> contexts;
    for (const auto& c : grid_.contexts) contexts.push_back(&c);
    std::vector<uint64_t> seeds(contexts.size());
    std::iota(seeds.begin(), seeds.end(), uint64_t{0});
    const auto images = sampler.sample(contexts, grid_.unconditional, seeds, /*step_seed=*/0);
    fs::create_directories(run_ / "samples");
    char name[40];
    std::snprintf(name, sizeof name, "step-%08lld.png", (long long)step);
    stages::save_png(stages::make_image_grid(images, 4), (run_ / "samples" / name).string());
  } catch (const std::exception& e) {
    spdlog::warn("train: no sample grid at step {}: {}", step, e.what());
  }
}

}  // namespace tessera::pipeline
