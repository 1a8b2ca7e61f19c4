#include "config/fingerprint.h"

#include <cstdint>
#include <optional>
#include <string_view>
#include <vector>

#include "base/error.h"
#include "base/number_text.h"
#include "config/content_hash.h"

namespace tessera::config {
namespace {

std::string number(int64_t value) { return std::to_string(value); }

std::string number(double value) { return shortest_decimal(value); }

std::string number(bool value) { return value ? "true" : "false"; }

std::string number(const std::optional<int64_t>& value) { return value ? number(*value) : "null"; }

std::string number(const std::vector<int64_t>& values) {
  std::string out = "[";
  for (size_t i = 0; i < values.size(); ++i) out += (i == 0 ? "" : ",") + number(values[i]);
  return out + "]";
}

class Lines {
 public:
  explicit Lines(std::string_view kind) { text_ = "config=" + std::string(kind) + "\n"; }
  template <typename T>
  Lines& add(std::string_view name, const T& value) {
    text_ += std::string(name) + "=" + number(value) + "\n";
    return *this;
  }
  Lines& add_text(std::string_view name, const std::string& value) {
    // Length-prefixed, so that a value cannot fake a following line.
    text_ += std::string(name) + "=" + std::to_string(value.size()) + ":" + value + "\n";
    return *this;
  }
  std::string str() const { return text_; }

 private:
  std::string text_;
};

}  // namespace

std::string canonical_text(const model::AutoencoderConfig& c) {
  return Lines("autoencoder")
      .add_text("kind", c.kind == model::AutoencoderKind::kVq ? "vq" : "kl")
      .add("ch", c.ch)
      .add("out_ch", c.out_ch)
      .add("in_channels", c.in_channels)
      .add("resolution", c.resolution)
      .add("z_channels", c.z_channels)
      .add("double_z", c.double_z)
      .add("ch_mult", c.ch_mult)
      .add("num_res_blocks", c.num_res_blocks)
      .add("attn_resolutions", c.attn_resolutions)
      .add("dropout", c.dropout)
      .add("embed_dim", c.embed_dim)
      .add("n_embed", c.n_embed)
      .add("scale_factor", c.scale_factor)
      .str();
}

std::string canonical_text(const model::UNetConfig& c) {
  return Lines("unet")
      .add("image_size", c.image_size)
      .add("in_channels", c.in_channels)
      .add("out_channels", c.out_channels)
      .add("model_channels", c.model_channels)
      .add("attention_resolutions", c.attention_resolutions)
      .add("num_res_blocks", c.num_res_blocks)
      .add("channel_mult", c.channel_mult)
      .add("dropout", c.dropout)
      .add("conv_resample", c.conv_resample)
      .add("dims", c.dims)
      .add("num_heads", c.num_heads)
      .add("num_head_channels", c.num_head_channels)
      .add("use_scale_shift_norm", c.use_scale_shift_norm)
      .add("resblock_updown", c.resblock_updown)
      .add("use_spatial_transformer", c.use_spatial_transformer)
      .add("transformer_depth", c.transformer_depth)
      .add("context_dim", c.context_dim)
      .add("legacy", c.legacy)
      .add("num_heads_upsample", c.num_heads_upsample)
      .str();
}

std::string canonical_text(const model::ClipTextConfig& c) {
  return Lines("clip_text")
      .add("vocab_size", c.vocab_size)
      .add("hidden_size", c.hidden_size)
      .add("intermediate_size", c.intermediate_size)
      .add("num_hidden_layers", c.num_hidden_layers)
      .add("num_attention_heads", c.num_attention_heads)
      .add("max_position_embeddings", c.max_position_embeddings)
      .add_text("hidden_act", c.hidden_act)
      .add("layer_norm_eps", c.layer_norm_eps)
      .add("bos_token_id", c.bos_token_id)
      .add("eos_token_id", c.eos_token_id)
      .add("pad_token_id", c.pad_token_id)
      .str();
}

std::string model_fingerprint(const std::string& canonical_config, const model::WeightsSet& weights,
                              const std::string& prefix) {
  ContentHash hasher;
  hasher.text("tessera-model-fingerprint-v1");
  hasher.text(canonical_config);
  size_t count = 0;
  for (const std::string& name : weights.names()) {
    if (name.compare(0, prefix.size(), prefix) != 0) continue;
    const model::TensorView& tensor = weights.at(name);
    hasher.text(std::string_view(name).substr(prefix.size()));
    hasher.text(model::dtype_name(tensor.dtype));
    hasher.u64(tensor.shape.size());
    for (int64_t dim : tensor.shape) hasher.u64(static_cast<uint64_t>(dim));
    hasher.u64(tensor.bytes);
    hasher.bytes(tensor.data, tensor.bytes);
    ++count;
  }
  if (count == 0) throw Error(weights.path() + ": no tensor named '" + prefix + "...' to fingerprint");
  hasher.u64(count);
  return hasher.hex();
}

}  // namespace tessera::config
