#pragma once

// An LDM run's sample grids (RunFolder::sample_grid): the same prompts and
// starting noise at every step one is drawn, so that the grids of a run compare.

#include <filesystem>
#include <vector>

#include "runtime/image_sampler.h"
#include "store/tensor_record.h"

namespace tessera::runtime {

class LatentSamples;

struct SampleGrid {
  ImageSamplerOptions sampler;                // unet_weights is each drawing's checkpoint
  std::vector<store::TensorRecord> contexts;  // one image each
  store::TensorRecord unconditional;
};

// Eight images of the samples' most used prompts (by tiles), cycling through
// fewer prompts with other noise; none when the store has no embedding of the
// empty prompt. Throws tessera::Error when the store cannot be read.
SampleGrid grid_of_common_prompts(const LatentSamples& samples, ImageSamplerOptions sampler);

// Draws the grid from `checkpoint`'s sampling weights into `png`. A grid that
// cannot be drawn (say, the VAE's weights were moved) is a warning: it never
// costs the run.
void draw_sample_grid(const SampleGrid& grid, const std::filesystem::path& checkpoint,
                      const std::filesystem::path& png);

}  // namespace tessera::runtime
