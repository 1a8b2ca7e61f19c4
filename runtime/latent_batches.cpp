#include "runtime/latent_batches.h"

#include <torch/torch.h>
#include <xxhash.h>

#include <set>

#include "base/error.h"
#include "model/sampler.h"
#include "runtime/tensor_records.h"
#include "store/store.h"

namespace tessera::runtime {

LatentBatchReader::LatentBatchReader(const store::Store& store, LatentBatchOptions options)
    : store_(store), options_(std::move(options)) {
  const store::SlideRecord* sized = nullptr;  // the first slide with samples: latents must all be one shape
  const auto slides = store_.slides();
  for (const auto& slide : slides) {
    if (slide.status != store::SlideStatus::kComplete) continue;
    const auto missing = store_.tiles_without_latents(options_.vae_model_id, slide.id);
    std::set<std::pair<uint32_t, uint32_t>> without;
    for (const auto& key : missing) without.emplace(key.row, key.col);
    tiles_without_latents_ += missing.size();
    const size_t before = samples_.size();
    store_.for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord& record) {
      if (!without.count({key.row, key.col})) samples_.push_back({key, record.prompt_id});
    });
    if (samples_.size() == before) continue;
    if (!sized) {
      sized = &slide;
    } else if (slide.tile_size != sized->tile_size) {
      throw Error("slides " + sized->id + " and " + slide.id + " have tiles of " + std::to_string(sized->tile_size) +
                  " and " + std::to_string(slide.tile_size) + " px: one training run takes latents of one size");
    }
  }
  if (samples_.empty()) {
    throw Error("store " + store_.dir().string() + " has no latents of model " + options_.vae_model_id +
                " in its complete slides; run tessera encode with that VAE first");
  }
  const auto& first = samples_.front().tile;
  const auto record = store_.latent(options_.vae_model_id, first.slide_id, first.row, first.col);
  if (!record) throw Error("the latent of a listed tile of slide " + first.slide_id + " is missing");
  latent_shape_.assign(record->shape.begin(), record->shape.end());
  if (record->kind == store::TensorKind::kKlMoments) latent_shape_[0] /= 2;
  context_width_ = embedding(options_.empty_prompt_id).size(1);

  // Every prompt needs its embedding before the first step, not hours in.
  const auto embedded = store_.embedded_prompt_ids(options_.text_model_id);
  const std::set<std::string> have(embedded.begin(), embedded.end());
  std::set<std::string> missing;
  for (const auto& sample : samples_) {
    if (!sample.prompt_id.empty() && !have.count(sample.prompt_id)) missing.insert(sample.prompt_id);
  }
  if (!missing.empty()) {
    throw Error(std::to_string(missing.size()) + " prompts of the store's tiles (" + *missing.begin() +
                (missing.size() > 1 ? ", ..." : "") + ") have no embedding of text model " + options_.text_model_id +
                "; run tessera encode-text with that text encoder");
  }

  XXH3_state_t* state = XXH3_createState();
  XXH3_64bits_reset(state);
  for (const auto& sample : samples_) {
    const auto key = store::encode_tile_key(sample.tile.slide_id, sample.tile.row, sample.tile.col);
    XXH3_64bits_update(state, key.data(), key.size());
    XXH3_64bits_update(state, sample.prompt_id.data(), sample.prompt_id.size() + 1);
  }
  char hex[17];
  std::snprintf(hex, sizeof hex, "%016llx", (unsigned long long)XXH3_64bits_digest(state));
  XXH3_freeState(state);
  samples_fingerprint_ = hex;
}

const torch::Tensor& LatentBatchReader::embedding(const std::string& prompt_id) {
  auto it = embeddings_.find(prompt_id);
  if (it != embeddings_.end()) return it->second;
  const auto record = store_.embedding(options_.text_model_id, prompt_id);
  if (!record) {
    throw Error(std::string(prompt_id == options_.empty_prompt_id ? "the empty prompt" : "prompt " + prompt_id) +
                " has no embedding of text model " + options_.text_model_id + " in store " + store_.dir().string() +
                "; run tessera encode-text with that text encoder");
  }
  return embeddings_.emplace(prompt_id, to_float_tensor(*record)).first->second;
}

torch::Tensor LatentBatchReader::latent(const TrainingSample& sample, const SampleDraw& draw) const {
  const auto& tile = sample.tile;
  const auto record = store_.latent(options_.vae_model_id, tile.slide_id, tile.row, tile.col);
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
  return z.mul(options_.scale_factor);
}

LatentBatch LatentBatchReader::read(const std::vector<SamplePosition>& positions) {
  std::vector<torch::Tensor> latents, contexts;
  LatentBatch batch;
  for (const auto& position : positions) {
    auto order = orders_.find(position.epoch);
    if (order == orders_.end()) {
      if (orders_.size() == 2) orders_.erase(orders_.begin());
      order = orders_.emplace(position.epoch, epoch_order(samples_.size(), options_.seed, position.epoch)).first;
    }
    const auto& sample = samples_[order->second[position.index]];
    const auto draw =
        draw_for_sample(options_.seed, position.epoch, sample.tile, options_.drop_probability, options_.flips);
    latents.push_back(latent(sample, draw));
    // A tile without a prompt is unconditional, as a dropped one.
    const bool unconditional = draw.drop_prompt || sample.prompt_id.empty();
    batch.dropped += draw.drop_prompt;
    contexts.push_back(embedding(unconditional ? options_.empty_prompt_id : sample.prompt_id));
  }
  batch.latents = torch::stack(latents);
  batch.contexts = torch::stack(contexts);
  return batch;
}

}  // namespace tessera::runtime
