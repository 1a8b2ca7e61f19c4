#include "model/unet.h"

#include <torch/nn/functional/pooling.h>
#include <torch/nn/functional/upsampling.h>
#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/dropout.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <string>
#include <utility>
#include <vector>

#include "model/attention.h"

// Structure and names follow ldm/modules/diffusionmodules/openaimodel.py
// (UNetModel, TimestepEmbedSequential, ResBlock, AttentionBlock with
// QKVAttentionLegacy, Downsample, Upsample) and ldm/modules/attention.py
// (SpatialTransformer, BasicTransformerBlock, CrossAttention, FeedForward with
// GEGLU). Upstream's nn.Sequential containers are plain modules whose children
// are named by index; weightless entries (SiLU) keep their index unused.

namespace tessera::model {
namespace {

torch::nn::Conv2d make_conv(int64_t in, int64_t out, int64_t kernel, int64_t stride, int64_t padding) {
  return torch::nn::Conv2d(torch::nn::Conv2dOptions(in, out, kernel).stride(stride).padding(padding));
}

torch::nn::Conv1d make_conv1x1_1d(int64_t in, int64_t out) {
  return torch::nn::Conv1d(torch::nn::Conv1dOptions(in, out, 1));
}

torch::nn::Linear make_linear(int64_t in, int64_t out, bool bias = true) {
  return torch::nn::Linear(torch::nn::LinearOptions(in, out).bias(bias));
}

// GroupNorm(32, affine): eps 1e-5 for the UNet's `normalization` (GroupNorm32),
// 1e-6 for the SpatialTransformer's `Normalize`.
torch::nn::GroupNorm make_norm(int64_t channels, double eps) {
  return torch::nn::GroupNorm(torch::nn::GroupNormOptions(32, channels).eps(eps).affine(true));
}

torch::nn::LayerNorm make_layer_norm(int64_t dim) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({dim}).eps(1e-5).elementwise_affine(true));
}

// An nn.Sequential stand-in: an empty module registered as `name` under
// `parent`, whose indexed children the caller registers.
std::shared_ptr<torch::nn::Module> add_sequential(torch::nn::Module& parent, const std::string& name) {
  return parent.register_module(name, std::make_shared<torch::nn::Module>());
}

torch::Tensor upsample_nearest2x(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  return F::interpolate(x,
                        F::InterpolateFuncOptions().scale_factor(std::vector<double>{2.0, 2.0}).mode(torch::kNearest));
}

torch::Tensor avg_pool2x(const torch::Tensor& x) {
  namespace F = torch::nn::functional;
  return F::avg_pool2d(x, F::AvgPool2dFuncOptions(2).stride(2));
}

// A layer of a TimestepEmbedSequential: takes the image, the time embedding
// and the cross-attention context, and uses what it needs.
class EmbedLayer : public torch::nn::Module {
 public:
  virtual torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor& context) = 0;
};

enum class Resample { kNone, kUp, kDown };

class ResBlock : public EmbedLayer {
 public:
  ResBlock(int64_t channels, int64_t emb_channels, int64_t out_channels, double dropout, bool use_scale_shift_norm,
           Resample resample)
      : use_scale_shift_norm_(use_scale_shift_norm), resample_(resample) {
    // in_layers.1, emb_layers.0 and out_layers.1 are SiLU.
    auto in_layers = add_sequential(*this, "in_layers");
    in_norm_ = in_layers->register_module("0", make_norm(channels, 1e-5));
    in_conv_ = in_layers->register_module("2", make_conv(channels, out_channels, 3, 1, 1));
    auto emb_layers = add_sequential(*this, "emb_layers");
    emb_linear_ = emb_layers->register_module(
        "1", make_linear(emb_channels, use_scale_shift_norm ? 2 * out_channels : out_channels));
    auto out_layers = add_sequential(*this, "out_layers");
    out_norm_ = out_layers->register_module("0", make_norm(out_channels, 1e-5));
    out_dropout_ = out_layers->register_module("2", torch::nn::Dropout(dropout));
    out_conv_ = out_layers->register_module("3", make_conv(out_channels, out_channels, 3, 1, 1));
    if (out_channels != channels)
      skip_ = register_module("skip_connection", make_conv(channels, out_channels, 1, 1, 0));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor& /*context*/) override {
    torch::Tensor skip_in = x;
    torch::Tensor h = torch::silu(in_norm_->forward(x));
    // Up/down blocks resample both paths (without convs) before in_layers.2.
    if (resample_ == Resample::kUp) {
      h = upsample_nearest2x(h);
      skip_in = upsample_nearest2x(x);
    } else if (resample_ == Resample::kDown) {
      h = avg_pool2x(h);
      skip_in = avg_pool2x(x);
    }
    h = in_conv_->forward(h);
    const torch::Tensor emb_out = emb_linear_->forward(torch::silu(emb)).unsqueeze(-1).unsqueeze(-1);  // b c 1 1
    if (use_scale_shift_norm_) {
      const std::vector<torch::Tensor> scale_shift = torch::chunk(emb_out, 2, 1);
      h = out_norm_->forward(h) * (1 + scale_shift[0]) + scale_shift[1];
    } else {
      h = out_norm_->forward(h + emb_out);
    }
    h = out_conv_->forward(out_dropout_->forward(torch::silu(h)));
    return (skip_ ? skip_->forward(skip_in) : skip_in) + h;
  }

 private:
  bool use_scale_shift_norm_;
  Resample resample_;
  std::shared_ptr<torch::nn::GroupNormImpl> in_norm_;
  std::shared_ptr<torch::nn::Conv2dImpl> in_conv_;
  std::shared_ptr<torch::nn::LinearImpl> emb_linear_;
  std::shared_ptr<torch::nn::GroupNormImpl> out_norm_;
  std::shared_ptr<torch::nn::DropoutImpl> out_dropout_;
  std::shared_ptr<torch::nn::Conv2dImpl> out_conv_;
  std::shared_ptr<torch::nn::Conv2dImpl> skip_;  // null: identity
};

// Self-attention over the H*W positions with upstream's legacy QKV split:
// qkv is (b, heads * 3 * ch, t), each head's slice holding its q, k and v.
class AttentionBlock : public EmbedLayer {
 public:
  AttentionBlock(int64_t channels, int64_t heads)
      : heads_(heads),
        norm_(register_module("norm", make_norm(channels, 1e-5))),
        qkv_(register_module("qkv", make_conv1x1_1d(channels, 3 * channels))),
        proj_out_(register_module("proj_out", make_conv1x1_1d(channels, channels))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& /*emb*/,
                        const torch::Tensor& /*context*/) override {
    const int64_t b = x.size(0), c = x.size(1);
    const torch::Tensor flat = x.reshape({b, c, -1});               // b c t
    const torch::Tensor qkv = qkv_->forward(norm_->forward(flat));  // b 3c t
    const int64_t length = qkv.size(2), ch = c / heads_;
    const std::vector<torch::Tensor> parts = qkv.reshape({b * heads_, 3 * ch, length}).split(ch, 1);
    // (b h) ch t -> b h t ch; upstream scales q and k by ch^-1/4 each, the
    // kernel's default 1/sqrt(ch) in one.
    auto tokens = [&](const torch::Tensor& t) { return t.reshape({b, heads_, ch, length}).transpose(2, 3); };
    const torch::Tensor attended = scaled_dot_product(tokens(parts[0]), tokens(parts[1]), tokens(parts[2]));
    const torch::Tensor a = attended.transpose(2, 3).reshape({b, -1, length});  // b c t
    return (flat + proj_out_->forward(a)).reshape(x.sizes());
  }

 private:
  int64_t heads_;
  std::shared_ptr<torch::nn::GroupNormImpl> norm_;
  std::shared_ptr<torch::nn::Conv1dImpl> qkv_;
  std::shared_ptr<torch::nn::Conv1dImpl> proj_out_;
};

// Multi-head attention of x over context (itself when context is undefined).
class CrossAttention : public torch::nn::Module {
 public:
  CrossAttention(int64_t query_dim, int64_t context_dim, int64_t heads, int64_t dim_head, double dropout)
      : heads_(heads),
        to_q_(register_module("to_q", make_linear(query_dim, heads * dim_head, false))),
        to_k_(register_module("to_k", make_linear(context_dim, heads * dim_head, false))),
        to_v_(register_module("to_v", make_linear(context_dim, heads * dim_head, false))) {
    auto to_out = add_sequential(*this, "to_out");
    to_out_linear_ = to_out->register_module("0", make_linear(heads * dim_head, query_dim));
    to_out_dropout_ = to_out->register_module("1", torch::nn::Dropout(dropout));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& context) {
    const torch::Tensor& source = context.defined() ? context : x;
    // dim_head^-0.5, upstream's scale, is the kernel's default 1/sqrt(head_dim).
    const torch::Tensor out = scaled_dot_product(split_heads(to_q_->forward(x)), split_heads(to_k_->forward(source)),
                                                 split_heads(to_v_->forward(source)));  // b h n d
    const int64_t b = x.size(0), n = x.size(1);
    const torch::Tensor merged = out.permute({0, 2, 1, 3}).reshape({b, n, -1});  // b n (h d)
    return to_out_dropout_->forward(to_out_linear_->forward(merged));
  }

 private:
  // b n (h d) -> b h n d
  torch::Tensor split_heads(const torch::Tensor& t) const {
    const int64_t b = t.size(0), n = t.size(1);
    return t.reshape({b, n, heads_, -1}).permute({0, 2, 1, 3});
  }

  int64_t heads_;
  std::shared_ptr<torch::nn::LinearImpl> to_q_, to_k_, to_v_;
  std::shared_ptr<torch::nn::LinearImpl> to_out_linear_;
  std::shared_ptr<torch::nn::DropoutImpl> to_out_dropout_;
};

// FeedForward(dim, mult 4, glu): net.0 is GEGLU (proj to 2 * inner, x * gelu(gate)
// with erf GELU), net.1 dropout, net.2 Linear(inner, dim).
class GatedFeedForward : public torch::nn::Module {
 public:
  GatedFeedForward(int64_t dim, double dropout) {
    const int64_t inner = 4 * dim;
    auto net = add_sequential(*this, "net");
    auto geglu = add_sequential(*net, "0");
    proj_ = geglu->register_module("proj", make_linear(dim, 2 * inner));
    dropout_ = net->register_module("1", torch::nn::Dropout(dropout));
    out_ = net->register_module("2", make_linear(inner, dim));
  }

  torch::Tensor forward(const torch::Tensor& x) {
    const std::vector<torch::Tensor> halves = proj_->forward(x).chunk(2, -1);  // value, gate
    return out_->forward(dropout_->forward(halves[0] * torch::gelu(halves[1])));
  }

 private:
  std::shared_ptr<torch::nn::LinearImpl> proj_;
  std::shared_ptr<torch::nn::DropoutImpl> dropout_;
  std::shared_ptr<torch::nn::LinearImpl> out_;
};

class BasicTransformerBlock : public torch::nn::Module {
 public:
  BasicTransformerBlock(int64_t dim, int64_t heads, int64_t dim_head, int64_t context_dim, double dropout)
      : attn1_(register_module("attn1", std::make_shared<CrossAttention>(dim, dim, heads, dim_head, dropout))),
        ff_(register_module("ff", std::make_shared<GatedFeedForward>(dim, dropout))),
        attn2_(register_module("attn2", std::make_shared<CrossAttention>(dim, context_dim, heads, dim_head, dropout))),
        norm1_(register_module("norm1", make_layer_norm(dim))),
        norm2_(register_module("norm2", make_layer_norm(dim))),
        norm3_(register_module("norm3", make_layer_norm(dim))) {}

  torch::Tensor forward(torch::Tensor x, const torch::Tensor& context) {
    x = attn1_->forward(norm1_->forward(x), torch::Tensor()) + x;
    x = attn2_->forward(norm2_->forward(x), context) + x;
    return ff_->forward(norm3_->forward(x)) + x;
  }

 private:
  std::shared_ptr<CrossAttention> attn1_;
  std::shared_ptr<GatedFeedForward> ff_;
  std::shared_ptr<CrossAttention> attn2_;
  std::shared_ptr<torch::nn::LayerNormImpl> norm1_, norm2_, norm3_;
};

// norm -> proj_in -> transformer blocks over the H*W tokens -> proj_out, plus
// the input.
class SpatialTransformer : public EmbedLayer {
 public:
  SpatialTransformer(int64_t channels, int64_t heads, int64_t dim_head, int64_t depth, int64_t context_dim)
      : norm_(register_module("norm", make_norm(channels, 1e-6))),
        proj_in_(register_module("proj_in", make_conv(channels, heads * dim_head, 1, 1, 0))),
        blocks_list_(register_module("transformer_blocks", torch::nn::ModuleList())) {
    for (int64_t d = 0; d < depth; ++d) {
      // Upstream builds these with dropout 0.
      blocks_.push_back(std::make_shared<BasicTransformerBlock>(heads * dim_head, heads, dim_head, context_dim, 0.0));
      blocks_list_->push_back(blocks_.back());
    }
    proj_out_ = register_module("proj_out", make_conv(heads * dim_head, channels, 1, 1, 0));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& /*emb*/, const torch::Tensor& context) override {
    const int64_t b = x.size(0), height = x.size(2), width = x.size(3);
    torch::Tensor h = proj_in_->forward(norm_->forward(x));  // b inner h w
    const int64_t inner = h.size(1);
    h = h.permute({0, 2, 3, 1}).reshape({b, height * width, inner});  // b (h w) inner
    for (const auto& block : blocks_) h = block->forward(h, context);
    h = h.reshape({b, height, width, inner}).permute({0, 3, 1, 2});  // b inner h w
    return proj_out_->forward(h) + x;
  }

 private:
  std::shared_ptr<torch::nn::GroupNormImpl> norm_;
  std::shared_ptr<torch::nn::Conv2dImpl> proj_in_;
  torch::nn::ModuleList blocks_list_;
  std::vector<std::shared_ptr<BasicTransformerBlock>> blocks_;
  std::shared_ptr<torch::nn::Conv2dImpl> proj_out_{nullptr};
};

// Halves H and W: `op` is a 3x3 stride-2 conv with padding 1, or a 2x2
// average pool without conv_resample.
class Downsample : public EmbedLayer {
 public:
  Downsample(int64_t channels, bool use_conv) {
    if (use_conv) op_ = register_module("op", make_conv(channels, channels, 3, 2, 1));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& /*emb*/,
                        const torch::Tensor& /*context*/) override {
    return op_ ? op_->forward(x) : avg_pool2x(x);
  }

 private:
  std::shared_ptr<torch::nn::Conv2dImpl> op_;
};

// Nearest-neighbour x2, then a 3x3 `conv` with conv_resample.
class Upsample : public EmbedLayer {
 public:
  Upsample(int64_t channels, bool use_conv) {
    if (use_conv) conv_ = register_module("conv", make_conv(channels, channels, 3, 1, 1));
  }

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& /*emb*/,
                        const torch::Tensor& /*context*/) override {
    const torch::Tensor h = upsample_nearest2x(x);
    return conv_ ? conv_->forward(h) : h;
  }

 private:
  std::shared_ptr<torch::nn::Conv2dImpl> conv_;
};

// Upstream's (num_heads, dim_head) for an attention block over `channels`,
// including `legacy`'s override of dim_head.
struct HeadLayout {
  int64_t heads;
  int64_t dim_head;  // -1 for a legacy AttentionBlock that takes its head count as given
};

HeadLayout head_layout(const UNetConfig& config, int64_t channels) {
  HeadLayout layout{config.num_heads, 0};
  if (config.num_head_channels == -1) {
    layout.dim_head = channels / config.num_heads;
  } else {
    layout.heads = channels / config.num_head_channels;
    layout.dim_head = config.num_head_channels;
  }
  if (config.legacy) {
    layout.dim_head = config.use_spatial_transformer ? channels / layout.heads : config.num_head_channels;
  }
  return layout;
}

// The attention layer after a ResBlock: a SpatialTransformer, or an
// AttentionBlock whose head count is channels / dim_head, or (dim_head -1)
// num_heads, num_heads_upsample on the output path.
std::shared_ptr<EmbedLayer> make_attention(const UNetConfig& config, int64_t channels, bool output_path) {
  const HeadLayout layout = head_layout(config, channels);
  if (config.use_spatial_transformer) {
    return std::make_shared<SpatialTransformer>(channels, layout.heads, layout.dim_head, config.transformer_depth,
                                                config.context_dim);
  }
  int64_t heads = layout.heads;
  if (output_path) heads = config.num_heads_upsample == -1 ? config.num_heads : config.num_heads_upsample;
  if (layout.dim_head != -1) heads = channels / layout.dim_head;
  return std::make_shared<AttentionBlock>(channels, heads);
}

bool has_attention(const UNetConfig& config, int64_t downsample_factor) {
  for (int64_t factor : config.attention_resolutions) {
    if (factor == downsample_factor) return true;
  }
  return false;
}

}  // namespace

torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, double max_period) {
  const int64_t half = dim / 2;
  const torch::Tensor freqs =
      torch::exp(-std::log(max_period) * torch::arange(0, half, timesteps.options().dtype(torch::kFloat32)) / half);
  const torch::Tensor args = timesteps.unsqueeze(1).to(torch::kFloat32) * freqs.unsqueeze(0);  // b half
  torch::Tensor embedding = torch::cat({torch::cos(args), torch::sin(args)}, -1);
  if (dim % 2 != 0) embedding = torch::cat({embedding, torch::zeros_like(embedding.narrow(1, 0, 1))}, -1);
  return embedding;
}

// TimestepEmbedSequential: children "0", "1", ... run in order, each given
// what it needs of (x, emb, context).
class UNetBlock : public torch::nn::Module {
 public:
  void append(const std::shared_ptr<EmbedLayer>& layer) {
    register_module(std::to_string(steps_.size()), layer);
    steps_.emplace_back([layer](const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor& context) {
      return layer->forward(x, emb, context);
    });
  }
  void append(const torch::nn::Conv2d& conv) {
    const auto impl = register_module(std::to_string(steps_.size()), conv);
    steps_.emplace_back(
        [impl](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) { return impl->forward(x); });
  }

  torch::Tensor forward(torch::Tensor x, const torch::Tensor& emb, const torch::Tensor& context) {
    for (const auto& step : steps_) x = step(x, emb, context);
    return x;
  }

 private:
  std::vector<std::function<torch::Tensor(const torch::Tensor&, const torch::Tensor&, const torch::Tensor&)>> steps_;
};

UNet::UNet(UNetConfig config) : config_(std::move(config)) {
  config_.validate();
  const UNetConfig& c = config_;
  const int64_t mc = c.model_channels;
  const int64_t emb_dim = 4 * mc;

  // time_embed.1 is SiLU.
  time_embed_ = add_sequential(*this, "time_embed");
  time_embed_in_ = time_embed_->register_module("0", make_linear(mc, emb_dim));
  time_embed_out_ = time_embed_->register_module("2", make_linear(emb_dim, emb_dim));

  auto res_block = [&](int64_t in, int64_t out, Resample resample) {
    return std::make_shared<ResBlock>(in, emb_dim, out, c.dropout, c.use_scale_shift_norm, resample);
  };

  input_blocks_list_ = register_module("input_blocks", torch::nn::ModuleList());
  auto add_input = [&](std::shared_ptr<UNetBlock> block) {
    input_blocks_list_->push_back(block);
    input_blocks_.push_back(std::move(block));
  };
  auto conv_in = std::make_shared<UNetBlock>();
  conv_in->append(make_conv(c.in_channels, mc, 3, 1, 1));
  add_input(conv_in);
  std::vector<int64_t> skip_channels = {mc};  // each input block's output channels
  int64_t ch = mc;
  int64_t ds = 1;
  const size_t levels = c.channel_mult.size();
  for (size_t level = 0; level < levels; ++level) {
    for (int64_t i = 0; i < c.num_res_blocks; ++i) {
      auto block = std::make_shared<UNetBlock>();
      block->append(res_block(ch, c.channel_mult[level] * mc, Resample::kNone));
      ch = c.channel_mult[level] * mc;
      if (has_attention(c, ds)) block->append(make_attention(c, ch, false));
      add_input(block);
      skip_channels.push_back(ch);
    }
    if (level + 1 != levels) {
      auto block = std::make_shared<UNetBlock>();
      if (c.resblock_updown) {
        block->append(res_block(ch, ch, Resample::kDown));
      } else {
        block->append(std::make_shared<Downsample>(ch, c.conv_resample));
      }
      add_input(block);
      skip_channels.push_back(ch);
      ds *= 2;
    }
  }

  middle_block_ = register_module("middle_block", std::make_shared<UNetBlock>());
  middle_block_->append(res_block(ch, ch, Resample::kNone));
  middle_block_->append(make_attention(c, ch, false));
  middle_block_->append(res_block(ch, ch, Resample::kNone));

  output_blocks_list_ = register_module("output_blocks", torch::nn::ModuleList());
  for (size_t level = levels; level-- > 0;) {
    for (int64_t i = 0; i <= c.num_res_blocks; ++i) {
      const int64_t skip = skip_channels.back();
      skip_channels.pop_back();
      auto block = std::make_shared<UNetBlock>();
      block->append(res_block(ch + skip, c.channel_mult[level] * mc, Resample::kNone));  // over cat[h, skip]
      ch = c.channel_mult[level] * mc;
      if (has_attention(c, ds)) block->append(make_attention(c, ch, true));
      if (level != 0 && i == c.num_res_blocks) {
        if (c.resblock_updown) {
          block->append(res_block(ch, ch, Resample::kUp));
        } else {
          block->append(std::make_shared<Upsample>(ch, c.conv_resample));
        }
        ds /= 2;
      }
      output_blocks_list_->push_back(block);
      output_blocks_.push_back(block);
    }
  }

  // out.1 is SiLU.
  out_ = add_sequential(*this, "out");
  out_norm_ = out_->register_module("0", make_norm(ch, 1e-5));
  out_conv_ = out_->register_module("2", make_conv(mc, c.out_channels, 3, 1, 1));

  // Fixed from here on: checkpointed() keeps their addresses until backward.
  const auto call = [](UNetBlock* block) -> CheckpointedBlock {
    return [block](const torch::Tensor& x, const torch::Tensor& emb, const torch::Tensor& context) {
      return block->forward(x, emb, context);
    };
  };
  for (const auto& block : input_blocks_) block_calls_.push_back(call(block.get()));
  block_calls_.push_back(call(middle_block_.get()));
  for (const auto& block : output_blocks_) block_calls_.push_back(call(block.get()));
}

UNet::~UNet() = default;

torch::Tensor UNet::forward(const torch::Tensor& x, const torch::Tensor& timesteps, const torch::Tensor& context,
                            UNetTrace* trace) {
  const torch::Tensor t_emb = timestep_embedding(timesteps, config_.model_channels);                // b mc
  const torch::Tensor emb = time_embed_out_->forward(torch::silu(time_embed_in_->forward(t_emb)));  // b 4mc
  if (trace != nullptr) {
    *trace = UNetTrace{};
    trace->t_emb = t_emb;
    trace->emb = emb;
  }
  const bool recompute = gradient_checkpointing_ && is_training();
  size_t call = 0;
  const auto run = [&](const std::shared_ptr<UNetBlock>& block, const torch::Tensor& input) {
    const auto& block_call = block_calls_[call++];
    return recompute ? checkpointed(block_call, input, emb, context) : block->forward(input, emb, context);
  };
  std::vector<torch::Tensor> skips;
  torch::Tensor h = x;
  for (const auto& block : input_blocks_) {
    h = run(block, h);
    skips.push_back(h);
    if (trace != nullptr) trace->input_blocks.push_back(h);
  }
  h = run(middle_block_, h);
  if (trace != nullptr) trace->middle_block = h;
  for (const auto& block : output_blocks_) {
    h = run(block, torch::cat({h, skips.back()}, 1));
    skips.pop_back();
    if (trace != nullptr) trace->output_blocks.push_back(h);
  }
  return out_conv_->forward(torch::silu(out_norm_->forward(h)));
}

}  // namespace tessera::model
