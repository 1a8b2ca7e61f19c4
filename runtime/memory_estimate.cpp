#include "runtime/memory_estimate.h"

#include <algorithm>

#include "model/attention.h"

namespace tessera::runtime {
namespace {

constexpr uint64_t kFloatBytes = sizeof(float);
// A ResnetBlock from c_in to c_out channels holds its input, then while conv2
// runs: h, GroupNorm's output, its sigmoid, their product and conv2's output
// (5 x c_out), with the input kept for the skip: at most 6 x max(c_in, c_out).
constexpr uint64_t kResnetLiveMaps = 6;
// An attention block holds its input, the normalised input, q, k, v, the
// scaled q, the chunks' outputs, their concatenation and its transposed copy.
constexpr uint64_t kAttentionLiveMaps = 9;
// One chunk's scores and their softmax are live together.
constexpr uint64_t kScoreCopies = 2;

// Score bytes of the attention over `tokens` positions for the whole batch:
// the chunk model/attention.h computes at once.
uint64_t attention_score_bytes(int64_t tokens, size_t batch) {
  const int64_t rows = model::attention_query_rows(int64_t(batch), tokens, tokens, int64_t(kFloatBytes));
  return kScoreCopies * uint64_t(batch) * uint64_t(rows) * uint64_t(tokens) * kFloatBytes;
}

bool has_attention(const model::AutoencoderConfig& config, int64_t resolution) {
  return std::find(config.attn_resolutions.begin(), config.attn_resolutions.end(), resolution) !=
         config.attn_resolutions.end();
}

}  // namespace

uint64_t encode_peak_bytes(const model::AutoencoderConfig& config, int64_t side, size_t batch) {
  // The tile's bytes as decoded (HWC), made contiguous as NCHW, and widened to float.
  const uint64_t input = uint64_t(config.in_channels) * uint64_t(side * side) * (2 + kFloatBytes);
  uint64_t peak = 0;
  auto stage = [&](uint64_t per_tile, uint64_t shared) { peak = std::max(peak, uint64_t(batch) * per_tile + shared); };
  int64_t channels = config.ch, spatial = side, resolution = config.resolution;
  for (size_t level = 0; level < config.ch_mult.size(); ++level) {
    const int64_t out = config.ch * config.ch_mult[level];
    const uint64_t cells = uint64_t(spatial * spatial);
    stage(kResnetLiveMaps * uint64_t(std::max(channels, out)) * cells * kFloatBytes, 0);
    if (has_attention(config, resolution)) {
      stage(kAttentionLiveMaps * uint64_t(out) * cells * kFloatBytes, attention_score_bytes(spatial * spatial, batch));
    }
    channels = out;
    if (level + 1 != config.ch_mult.size()) spatial /= 2, resolution /= 2;
  }
  // The mid block's attention runs over every cell of the lowest resolution.
  const uint64_t cells = uint64_t(spatial * spatial);
  stage(kAttentionLiveMaps * uint64_t(channels) * cells * kFloatBytes, attention_score_bytes(spatial * spatial, batch));
  return peak + uint64_t(batch) * input;
}

}  // namespace tessera::runtime
