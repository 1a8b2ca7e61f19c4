#include "model/autoencoder.h"

#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/normalization.h>

#include <cmath>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/attention.h"

// Structure and names follow ldm/modules/diffusionmodules/model.py (Encoder,
// Decoder, ResnetBlock, AttnBlock, Downsample, Upsample, with temb_channels 0
// and resamp_with_conv) and taming's VectorQuantizer2 with legacy=True.

namespace tessera::model {
namespace {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

// Upstream's Normalize: GroupNorm(32, eps 1e-6, affine).
torch::nn::GroupNorm make_norm(int64_t channels) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(32, channels).eps(1e-6).affine(true));
}

// Upstream's nonlinearity, written as x * sigmoid(x) as it is there.
torch::Tensor swish(const torch::Tensor& x) { return x * torch::sigmoid(x); }

class VaeResnetBlock : public torch::nn::Module {
 public:
  VaeResnetBlock(int64_t in, int64_t out, double dropout)
      : norm1_(register_module("norm1", make_norm(in))),
        conv1_(register_module("conv1", make_conv(in, out, 3, 1, 1))),
        norm2_(register_module("norm2", make_norm(out))),
        dropout_(register_module("dropout", torch::nn::Dropout(dropout))),
        conv2_(register_module("conv2", make_conv(out, out, 3, 1, 1))) {
    if (in != out) nin_shortcut_ = register_module("nin_shortcut", make_conv(in, out, 1, 1, 0));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = conv1_(swish(norm1_(x)));
    h = conv2_(dropout_(swish(norm2_(h))));
    return (nin_shortcut_ ? nin_shortcut_(x) : x) + h;
  }

 private:
  torch::nn::GroupNorm norm1_;
  torch::nn::Conv2d conv1_;
  torch::nn::GroupNorm norm2_;
  torch::nn::Dropout dropout_;
  torch::nn::Conv2d conv2_;
  torch::nn::Conv2d nin_shortcut_{nullptr};
};

// Single-head self-attention over the H*W positions (upstream's AttnBlock).
class VaeAttentionBlock : public torch::nn::Module {
 public:
  explicit VaeAttentionBlock(int64_t channels)
      : norm_(register_module("norm", make_norm(channels))),
        q_(register_module("q", make_conv(channels, channels, 1, 1, 0))),
        k_(register_module("k", make_conv(channels, channels, 1, 1, 0))),
        v_(register_module("v", make_conv(channels, channels, 1, 1, 0))),
        proj_out_(register_module("proj_out", make_conv(channels, channels, 1, 1, 0))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = norm_(x);
    const int64_t b = x.size(0), c = x.size(1), height = x.size(2), width = x.size(3);
    // b c h w -> b 1 (h w) c: one head of c channels, whose default scale
    // 1/sqrt(c) is upstream's c^-0.5.
    auto tokens = [&](const torch::Tensor& t) {
      return t.reshape({b, c, height * width}).transpose(1, 2).unsqueeze(1);
    };
    const torch::Tensor attended = scaled_dot_product(tokens(q_(h)), tokens(k_(h)), tokens(v_(h)));  // b 1 (h w) c
    const torch::Tensor out = attended.squeeze(1).transpose(1, 2).reshape({b, c, height, width});
    return x + proj_out_(out);
  }

 private:
  torch::nn::GroupNorm norm_;
  torch::nn::Conv2d q_, k_, v_, proj_out_;
};

// Zero-pads right and bottom by one, then a 3x3 stride-2 conv without padding.
class VaeDownsample : public torch::nn::Module {
 public:
  explicit VaeDownsample(int64_t channels) : conv_(register_module("conv", make_conv(channels, channels, 3, 2, 0))) {}

  torch::Tensor forward(const torch::Tensor& x) { return conv_(torch::constant_pad_nd(x, {0, 1, 0, 1}, 0)); }

 private:
  torch::nn::Conv2d conv_;
};

// Nearest-neighbour x2, then a 3x3 conv.
class VaeUpsample : public torch::nn::Module {
 public:
  explicit VaeUpsample(int64_t channels) : conv_(register_module("conv", make_conv(channels, channels, 3, 1, 1))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    namespace F = torch::nn::functional;
    return conv_(F::interpolate(
        x, F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest)));
  }

 private:
  torch::nn::Conv2d conv_;
};

// One resolution level: down[i] of the encoder or up[i] of the decoder, with
// children "block", "attn" and "downsample" / "upsample".
class VaeLevel : public torch::nn::Module {
 public:
  VaeLevel(int64_t in, int64_t out, int64_t blocks, bool with_attention, double dropout)
      : block_list_(register_module("block", torch::nn::ModuleList())),
        attn_list_(register_module("attn", torch::nn::ModuleList())) {
    for (int64_t i = 0; i < blocks; ++i) {
      blocks_.push_back(std::make_shared<VaeResnetBlock>(i == 0 ? in : out, out, dropout));
      block_list_->push_back(blocks_.back());
      if (with_attention) {
        attentions_.push_back(std::make_shared<VaeAttentionBlock>(out));
        attn_list_->push_back(attentions_.back());
      }
    }
  }

  void add_downsample(int64_t channels) {
    downsample_ = register_module("downsample", std::make_shared<VaeDownsample>(channels));
  }
  void add_upsample(int64_t channels) {
    upsample_ = register_module("upsample", std::make_shared<VaeUpsample>(channels));
  }

  torch::Tensor forward(torch::Tensor h) {
    for (size_t i = 0; i < blocks_.size(); ++i) {
      h = blocks_[i]->forward(h);
      if (!attentions_.empty()) h = attentions_[i]->forward(h);
    }
    if (downsample_) h = downsample_->forward(h);
    if (upsample_) h = upsample_->forward(h);
    return h;
  }

 private:
  torch::nn::ModuleList block_list_;
  torch::nn::ModuleList attn_list_;
  std::vector<std::shared_ptr<VaeResnetBlock>> blocks_;
  std::vector<std::shared_ptr<VaeAttentionBlock>> attentions_;
  std::shared_ptr<VaeDownsample> downsample_;
  std::shared_ptr<VaeUpsample> upsample_;
};

// block_1, attn_1, block_2 at the lowest resolution.
class VaeMidBlock : public torch::nn::Module {
 public:
  VaeMidBlock(int64_t channels, double dropout)
      : block_1_(register_module("block_1", std::make_shared<VaeResnetBlock>(channels, channels, dropout))),
        attn_1_(register_module("attn_1", std::make_shared<VaeAttentionBlock>(channels))),
        block_2_(register_module("block_2", std::make_shared<VaeResnetBlock>(channels, channels, dropout))) {}

  torch::Tensor forward(const torch::Tensor& x) { return block_2_->forward(attn_1_->forward(block_1_->forward(x))); }

 private:
  std::shared_ptr<VaeResnetBlock> block_1_;
  std::shared_ptr<VaeAttentionBlock> attn_1_;
  std::shared_ptr<VaeResnetBlock> block_2_;
};

bool has_attention(const AutoencoderConfig& config, int64_t resolution) {
  for (int64_t r : config.attn_resolutions) {
    if (r == resolution) return true;
  }
  return false;
}

}  // namespace

class VaeEncoder : public torch::nn::Module {
 public:
  explicit VaeEncoder(const AutoencoderConfig& config)
      : conv_in_(register_module("conv_in", make_conv(config.in_channels, config.ch, 3, 1, 1))),
        down_(register_module("down", torch::nn::ModuleList())) {
    const size_t levels = config.ch_mult.size();
    int64_t resolution = config.resolution;
    int64_t channels = config.ch;
    for (size_t i = 0; i < levels; ++i) {
      const int64_t out = config.ch * config.ch_mult[i];
      auto level = std::make_shared<VaeLevel>(channels, out, config.num_res_blocks, has_attention(config, resolution),
                                              config.dropout);
      channels = out;
      if (i + 1 != levels) {
        level->add_downsample(channels);
        resolution /= 2;
      }
      levels_.push_back(level);
      down_->push_back(level);
    }
    mid_ = register_module("mid", std::make_shared<VaeMidBlock>(channels, config.dropout));
    norm_out_ = register_module("norm_out", make_norm(channels));
    const int64_t out_channels = config.double_z ? 2 * config.z_channels : config.z_channels;
    conv_out_ = register_module("conv_out", make_conv(channels, out_channels, 3, 1, 1));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    torch::Tensor h = conv_in_(x);
    for (const auto& level : levels_) h = level->forward(h);
    h = mid_->forward(h);
    return conv_out_(swish(norm_out_(h)));
  }

 private:
  torch::nn::Conv2d conv_in_;
  torch::nn::ModuleList down_;
  std::vector<std::shared_ptr<VaeLevel>> levels_;
  std::shared_ptr<VaeMidBlock> mid_;
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::Conv2d conv_out_{nullptr};
};

class VaeDecoder : public torch::nn::Module {
 public:
  explicit VaeDecoder(const AutoencoderConfig& config) {
    const size_t levels = config.ch_mult.size();
    int64_t channels = config.ch * config.ch_mult.back();
    int64_t resolution = config.resolution >> (levels - 1);
    conv_in_ = register_module("conv_in", make_conv(config.z_channels, channels, 3, 1, 1));
    mid_ = register_module("mid", std::make_shared<VaeMidBlock>(channels, config.dropout));
    // Built from the lowest resolution up, but up[i] is level i as upstream
    // inserts each level at the front of the list.
    std::vector<std::shared_ptr<VaeLevel>> by_level(levels);
    for (size_t i = levels; i-- > 0;) {
      const int64_t out = config.ch * config.ch_mult[i];
      auto level = std::make_shared<VaeLevel>(channels, out, config.num_res_blocks + 1,
                                              has_attention(config, resolution), config.dropout);
      channels = out;
      if (i != 0) {
        level->add_upsample(channels);
        resolution *= 2;
      }
      by_level[i] = level;
    }
    up_ = register_module("up", torch::nn::ModuleList());
    for (const auto& level : by_level) up_->push_back(level);
    levels_top_down_.assign(by_level.rbegin(), by_level.rend());
    norm_out_ = register_module("norm_out", make_norm(channels));
    conv_out_ = register_module("conv_out", make_conv(channels, config.out_ch, 3, 1, 1));
  }

  torch::Tensor forward(const torch::Tensor& z) {
    torch::Tensor h = mid_->forward(conv_in_(z));
    for (const auto& level : levels_top_down_) h = level->forward(h);
    return conv_out_(swish(norm_out_(h)));
  }

 private:
  torch::nn::Conv2d conv_in_{nullptr};
  std::shared_ptr<VaeMidBlock> mid_;
  torch::nn::ModuleList up_{nullptr};
  std::vector<std::shared_ptr<VaeLevel>> levels_top_down_;  // up[n-1], ..., up[0]
  torch::nn::GroupNorm norm_out_{nullptr};
  torch::nn::Conv2d conv_out_{nullptr};
};

class VectorQuantizer : public torch::nn::Module {
 public:
  VectorQuantizer(int64_t n_embed, int64_t embed_dim)
      : embedding_(register_module("embedding", torch::nn::Embedding(n_embed, embed_dim))) {}

  QuantizedLatent forward(const torch::Tensor& h) {
    const torch::Tensor z = h.permute({0, 2, 3, 1}).contiguous();  // b h w c
    const torch::Tensor z_flat = z.view({-1, z.size(3)});          // (b h w) c
    const torch::Tensor& e = embedding_->weight;                   // n c
    // |z|^2 + |e|^2 - 2 z.e, summed in upstream's order so near-ties resolve alike.
    const torch::Tensor distances = torch::sum(z_flat.pow(2), 1, true) + torch::sum(e.pow(2), 1) -
                                    2 * torch::einsum("bd,dn->bn", {z_flat, e.t()});  // (b h w) n
    const torch::Tensor indices = torch::argmin(distances, 1);                        // (b h w)
    const torch::Tensor e_rows = embedding_(indices).view(z.sizes());                 // b h w c
    const torch::Tensor quantized = z + (e_rows - z).detach();                        // straight-through
    return {quantized.permute({0, 3, 1, 2}).contiguous(), indices.view({z.size(0), z.size(1), z.size(2)})};
  }

  torch::Tensor lookup(const torch::Tensor& indices) {
    return embedding_(indices).permute({0, 3, 1, 2}).contiguous();  // b h w c -> b c h w
  }

 private:
  torch::nn::Embedding embedding_;
};

DiagonalGaussian DiagonalGaussian::from_moments(const torch::Tensor& moments) {
  const std::vector<torch::Tensor> halves = torch::chunk(moments, 2, 1);
  DiagonalGaussian posterior;
  posterior.mean = halves[0];
  posterior.logvar = torch::clamp(halves[1], -30.0, 20.0);
  posterior.std = torch::exp(0.5 * posterior.logvar);
  return posterior;
}

torch::Tensor DiagonalGaussian::sample(const torch::Tensor& noise) const { return mean + std * noise; }

Autoencoder::Autoencoder(AutoencoderConfig config) : config_(std::move(config)) {
  config_.validate();
  encoder_ = register_module("encoder", std::make_shared<VaeEncoder>(config_));
  decoder_ = register_module("decoder", std::make_shared<VaeDecoder>(config_));
  const int64_t z_out = config_.double_z ? 2 * config_.z_channels : config_.z_channels;
  const int64_t embed_out = config_.kind == AutoencoderKind::kKl ? 2 * config_.embed_dim : config_.embed_dim;
  if (config_.kind == AutoencoderKind::kVq) {
    quantize_ = register_module("quantize", std::make_shared<VectorQuantizer>(config_.n_embed, config_.embed_dim));
  }
  quant_conv_ = register_module("quant_conv", make_conv(z_out, embed_out, 1, 1, 0));
  post_quant_conv_ = register_module("post_quant_conv", make_conv(config_.embed_dim, config_.z_channels, 1, 1, 0));
}

Autoencoder::~Autoencoder() = default;

void Autoencoder::require_vq(const char* what) const {
  if (!quantize_) throw std::logic_error(std::string("Autoencoder::") + what + " needs a VQ model");
}

torch::Tensor Autoencoder::run_encoder(const torch::Tensor& x) { return encoder_->forward(x); }

torch::Tensor Autoencoder::encode_moments(const torch::Tensor& x) { return quant_conv_->forward(run_encoder(x)); }

torch::Tensor Autoencoder::encode(const torch::Tensor& x) {
  if (quantize_) return encode_moments(x);
  return encode_posterior(x).mean;
}

DiagonalGaussian Autoencoder::encode_posterior(const torch::Tensor& x) {
  if (quantize_) throw std::logic_error("Autoencoder::encode_posterior needs a KL model");
  return DiagonalGaussian::from_moments(encode_moments(x));
}

QuantizedLatent Autoencoder::quantize(const torch::Tensor& h) {
  require_vq("quantize");
  return quantize_->forward(h);
}

torch::Tensor Autoencoder::codebook_lookup(const torch::Tensor& indices) {
  require_vq("codebook_lookup");
  return quantize_->lookup(indices);
}

torch::Tensor Autoencoder::decode(const torch::Tensor& z) {
  if (quantize_) return decode_unquantized(quantize(z).quantized);
  return decode_unquantized(z);
}

torch::Tensor Autoencoder::decode_unquantized(const torch::Tensor& z) {
  return decoder_->forward(post_quant_conv_->forward(z));
}

}  // namespace tessera::model
