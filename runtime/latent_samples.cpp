#include "runtime/latent_samples.h"

#include <xxhash.h>

#include <cstdio>
#include <set>
#include <utility>

#include "base/error.h"
#include "store/store.h"

namespace tessera::runtime {

LatentSamples::LatentSamples(const store::Store& store, LatentSampleOptions options)
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

  const auto empty = store_.embedding(options_.text_model_id, options_.empty_prompt_id);
  if (!empty) {
    throw Error("the empty prompt has no embedding of text model " + options_.text_model_id + " in store " +
                store_.dir().string() + "; run tessera encode-text with that text encoder");
  }
  if (empty->shape.size() != 2) {
    throw Error("store " + store_.dir().string() + ": the empty prompt's embedding of text model " +
                options_.text_model_id + " is not (tokens, width)");
  }
  context_width_ = int64_t(empty->shape[1]);

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
  fingerprint_ = hex;
}

}  // namespace tessera::runtime
