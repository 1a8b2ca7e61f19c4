#include "latent_batch_reader.h"

#include <torch/torch.h>

#include "base/error.h"
#include "model/sampler.h"
#include "runtime/tensor_records.h"
#include "store/store.h"

namespace tessera::runtime {

const torch::Tensor& LatentBatchReader::embedding(const std::string& prompt_id) {
  auto it = embeddings_.find(prompt_id);
  if (it != embeddings_.end()) return it->second;
  const auto& options = samples_.options();
  const auto record = samples_.store().embedding(options.text_model_id, prompt_id);
  if (!record) {
    throw Error(std::string(prompt_id == options.empty_prompt_id ? "the empty prompt" : "prompt " + prompt_id) +
                " has no embedding of text model " + options.text_model_id + " in store " +
                samples_.store().dir().string() + "; run tessera encode-text with that text encoder");
  }
  return embeddings_.emplace(prompt_id, to_float_tensor(*record)).first->second;
}

torch::Tensor LatentBatchReader::latent(const TrainingSample& sample, const SampleDraw& draw) const {
  const auto& tile = sample.tile;
  const auto record = samples_.store().latent(samples_.options().vae_model_id, tile.slide_id, tile.row, tile.col);
  if (!record) {
    throw Error("the latent of tile (" + std::to_string(tile.row) + ", " + std::to_string(tile.col) + ") of slide " +
                tile.slide_id + " disappeared during training");
  }
  torch::Tensor z = to_float_tensor(*record);
  if (record->kind == store::TensorKind::kKlMoments) {
    // LDM samples the posterior afresh each time a tile is seen.
    const int64_t c = z.size(0) / 2;
    const auto mean = z.narrow(0, 0, c);
    const auto std = torch::exp(0.5 * z.narrow(0, c, c).clamp(-30.0, 20.0));
    auto generator = model::make_cpu_generator(draw.noise_seed);
    z = mean + std * torch::randn(mean.sizes(), generator, torch::kFloat32);
  }
  if (draw.flip_horizontal) z = z.flip({2});
  if (draw.flip_vertical) z = z.flip({1});
  return z.mul(samples_.options().scale_factor);
}

model::TrainingBatch LatentBatchReader::read(const std::vector<SamplePosition>& positions) {
  const auto& options = samples_.options();
  std::vector<torch::Tensor> latents, contexts;
  for (const auto& position : positions) {
    auto order = orders_.find(position.epoch);
    if (order == orders_.end()) {
      if (orders_.size() == 2) orders_.erase(orders_.begin());
      order =
          orders_.emplace(position.epoch, epoch_order(samples_.samples().size(), options.seed, position.epoch)).first;
    }
    const auto& sample = samples_.samples()[order->second[position.index]];
    const auto draw =
        draw_for_sample(options.seed, position.epoch, sample.tile, options.drop_probability, options.flips);
    latents.push_back(latent(sample, draw));
    // A tile without a prompt is unconditional, as a dropped one.
    const bool unconditional = draw.drop_prompt || sample.prompt_id.empty();
    contexts.push_back(embedding(unconditional ? options.empty_prompt_id : sample.prompt_id));
  }
  return {torch::stack(latents), torch::stack(contexts)};
}

}  // namespace tessera::runtime
