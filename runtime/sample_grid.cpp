#include "runtime/sample_grid.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <map>
#include <numeric>
#include <string>
#include <utility>

#include "imaging/image_grid.h"
#include "imaging/vips_runtime.h"
#include "runtime/latent_samples.h"
#include "store/store.h"

namespace tessera::runtime {
namespace {

constexpr size_t kGridImages = 8;
constexpr int kGridColumns = 4;

}  // namespace

SampleGrid grid_of_common_prompts(const LatentSamples& samples, ImageSamplerOptions sampler) {
  SampleGrid grid;
  grid.sampler = std::move(sampler);
  const auto& store = samples.store();
  const std::string& text_model = samples.options().text_model_id;
  const auto empty = store.embedding(text_model, samples.options().empty_prompt_id);
  if (!empty) return grid;
  grid.unconditional = *empty;
  std::map<std::string, size_t> uses;
  for (const auto& sample : samples.samples()) ++uses[sample.prompt_id];
  std::vector<std::pair<size_t, std::string>> ranked;
  for (const auto& [id, count] : uses) ranked.emplace_back(count, id);
  std::sort(ranked.begin(), ranked.end(), [](const auto& a, const auto& b) { return a.first > b.first; });
  std::vector<store::TensorRecord> prompts;
  for (const auto& [count, id] : ranked) {
    if (prompts.size() == kGridImages) break;
    const auto record = id.empty() ? empty : store.embedding(text_model, id);
    if (record) prompts.push_back(*record);
  }
  for (size_t i = 0; i < kGridImages && !prompts.empty(); ++i) grid.contexts.push_back(prompts[i % prompts.size()]);
  return grid;
}

void draw_sample_grid(const SampleGrid& grid, const std::filesystem::path& checkpoint,
                      const std::filesystem::path& png) {
  if (grid.contexts.empty()) return;
  try {
    ImageSamplerOptions options = grid.sampler;
    options.unet_weights = checkpoint.string();
    ImageSampler sampler(options);
    std::vector<const store::TensorRecord*> contexts;
    for (const auto& context : grid.contexts) contexts.push_back(&context);
    std::vector<uint64_t> seeds(contexts.size());
    std::iota(seeds.begin(), seeds.end(), uint64_t{0});
    const auto images = sampler.sample(contexts, grid.unconditional, seeds, /*step_seed=*/0);
    std::filesystem::create_directories(png.parent_path());
    stages::save_png(stages::make_image_grid(images, kGridColumns), png.string());
  } catch (const std::exception& e) {
    spdlog::warn("{} not drawn: {}", png.string(), e.what());
  }
}

}  // namespace tessera::runtime
