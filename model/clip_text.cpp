#include "model/clip_text.h"

#include <torch/nn/modules/container/modulelist.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/torch.h>
#include <torch/version.h>

#include <cmath>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/attention.h"

// Structure and names follow transformers/models/clip/modeling_clip.py
// (CLIPTextTransformer and its parts); the computation is OpenAI CLIP's
// encode_text up to ln_final (pre-LN residual blocks, quick_gelu MLP).

namespace tessera::model {
namespace {

// The most negative finite value of `dtype`: the "blocked" entry of additive
// masks, so that a fully masked row softmaxes to uniform instead of NaN.
double mask_fill_value(c10::ScalarType dtype) {
  switch (dtype) {
    case torch::kFloat64:
      return std::numeric_limits<double>::lowest();
    case torch::kFloat32:
      return static_cast<double>(std::numeric_limits<float>::lowest());
    case torch::kFloat16:
      return -65504.0;
    case torch::kBFloat16:
      return -3.3895313892515355e38;
    default:
      throw std::invalid_argument(std::string("clip text: unsupported floating dtype ") + c10::toString(dtype));
  }
}

class ClipAttention : public torch::nn::Module {
 public:
  ClipAttention(int64_t width, int64_t heads)
      : heads_(heads),
        k_proj_(register_module("k_proj", torch::nn::Linear(width, width))),
        v_proj_(register_module("v_proj", torch::nn::Linear(width, width))),
        q_proj_(register_module("q_proj", torch::nn::Linear(width, width))),
        out_proj_(register_module("out_proj", torch::nn::Linear(width, width))) {}

  // x (B, T, W), additive_mask (B, 1, T, T).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const int64_t b = x.size(0), t = x.size(1), w = x.size(2);
    const int64_t head_dim = w / heads_;
    auto split = [&](const torch::Tensor& y) { return y.view({b, t, heads_, head_dim}).transpose(1, 2); };
    const torch::Tensor out =
        scaled_dot_product(split(q_proj_(x)), split(k_proj_(x)), split(v_proj_(x)), additive_mask);
    return out_proj_(out.transpose(1, 2).reshape({b, t, w}));
  }

 private:
  int64_t heads_;
  torch::nn::Linear k_proj_, v_proj_, q_proj_, out_proj_;
};

class ClipMlp : public torch::nn::Module {
 public:
  ClipMlp(int64_t width, int64_t hidden, bool quick_gelu)
      : quick_gelu_(quick_gelu),
        fc1_(register_module("fc1", torch::nn::Linear(width, hidden))),
        fc2_(register_module("fc2", torch::nn::Linear(hidden, width))) {}

  torch::Tensor forward(const torch::Tensor& x) {
    const torch::Tensor h = fc1_(x);
    return fc2_(quick_gelu_ ? h * torch::sigmoid(1.702 * h) : torch::gelu(h));
  }

 private:
  bool quick_gelu_;
  torch::nn::Linear fc1_, fc2_;
};

torch::nn::LayerNorm make_layer_norm(int64_t width, double eps) {
  return torch::nn::LayerNorm(torch::nn::LayerNormOptions({width}).eps(eps).elementwise_affine(true));
}

class ClipEncoderLayer : public torch::nn::Module {
 public:
  explicit ClipEncoderLayer(const ClipTextConfig& config)
      : self_attn_(register_module("self_attn",
                                   std::make_shared<ClipAttention>(config.hidden_size, config.num_attention_heads))),
        layer_norm1_(register_module("layer_norm1", make_layer_norm(config.hidden_size, config.layer_norm_eps))),
        mlp_(register_module("mlp", std::make_shared<ClipMlp>(config.hidden_size, config.intermediate_size,
                                                              config.hidden_act == "quick_gelu"))),
        layer_norm2_(register_module("layer_norm2", make_layer_norm(config.hidden_size, config.layer_norm_eps))) {}

  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& additive_mask) {
    const torch::Tensor h = x + self_attn_->forward(layer_norm1_(x), additive_mask);
    return h + mlp_->forward(layer_norm2_(h));
  }

 private:
  std::shared_ptr<ClipAttention> self_attn_;
  torch::nn::LayerNorm layer_norm1_;
  std::shared_ptr<ClipMlp> mlp_;
  torch::nn::LayerNorm layer_norm2_;
};

class ClipTextEmbeddings : public torch::nn::Module {
 public:
  explicit ClipTextEmbeddings(const ClipTextConfig& config)
      : token_embedding_(
            register_module("token_embedding", torch::nn::Embedding(config.vocab_size, config.hidden_size))),
        position_embedding_(register_module(
            "position_embedding", torch::nn::Embedding(config.max_position_embeddings, config.hidden_size))) {}

  torch::Tensor forward(const torch::Tensor& input_ids, const torch::Tensor& position_ids) {
    return token_embedding_(input_ids) + position_embedding_(position_ids);
  }

 private:
  torch::nn::Embedding token_embedding_;
  torch::nn::Embedding position_embedding_;
};

class ClipEncoder : public torch::nn::Module {
 public:
  explicit ClipEncoder(const ClipTextConfig& config) : layer_list_(register_module("layers", torch::nn::ModuleList())) {
    for (int64_t i = 0; i < config.num_hidden_layers; ++i) {
      layers_.push_back(std::make_shared<ClipEncoderLayer>(config));
      layer_list_->push_back(layers_.back());
    }
  }

  torch::Tensor forward(torch::Tensor h, const torch::Tensor& additive_mask) {
    for (const auto& layer : layers_) h = layer->forward(h, additive_mask);
    return h;
  }

 private:
  torch::nn::ModuleList layer_list_;
  std::vector<std::shared_ptr<ClipEncoderLayer>> layers_;
};

}  // namespace

class ClipTextTransformer : public torch::nn::Module {
 public:
  explicit ClipTextTransformer(const ClipTextConfig& config)
      : embeddings_(register_module("embeddings", std::make_shared<ClipTextEmbeddings>(config))),
        encoder_(register_module("encoder", std::make_shared<ClipEncoder>(config))),
        final_layer_norm_(
            register_module("final_layer_norm", make_layer_norm(config.hidden_size, config.layer_norm_eps))) {}

  // ids (B, T) int64, position_ids (T) int64, key_allowed (B, T) bool or
  // undefined. Causal mask over the T tokens, plus key padding where given.
  torch::Tensor forward(const torch::Tensor& ids, const torch::Tensor& position_ids, const torch::Tensor& key_allowed) {
    const torch::Tensor h = embeddings_->forward(ids, position_ids);
    const int64_t b = ids.size(0), t = ids.size(1);
    // blocked[b, 0, i, j]: query i may not see key j.
    torch::Tensor blocked =
        torch::ones({t, t}, torch::TensorOptions().dtype(torch::kBool).device(ids.device())).triu(1).view({1, 1, t, t});
    if (key_allowed.defined()) blocked = blocked.logical_or(key_allowed.logical_not().view({b, 1, 1, t}));
    const torch::Tensor additive_mask =
        torch::zeros(blocked.sizes(), h.options()).masked_fill(blocked, mask_fill_value(h.scalar_type()));
    return final_layer_norm_(encoder_->forward(h, additive_mask));
  }

 private:
  std::shared_ptr<ClipTextEmbeddings> embeddings_;
  std::shared_ptr<ClipEncoder> encoder_;
  torch::nn::LayerNorm final_layer_norm_;
};

ClipTextModel::ClipTextModel(ClipTextConfig config) : config_(std::move(config)) {
  config_.validate();
  text_model_ = register_module("text_model", std::make_shared<ClipTextTransformer>(config_));
}

ClipTextModel::~ClipTextModel() = default;

const std::vector<std::string>& ClipTextModel::ignored_checkpoint_keys() {
  static const std::vector<std::string> keys = {"text_model.embeddings.position_ids"};
  return keys;
}

namespace {

// input_ids as int64 after checking shape (B, `length`) and vocabulary range;
// `length` < 0 accepts 1..max_length tokens.
torch::Tensor checked_ids(const torch::Tensor& input_ids, int64_t length, int64_t max_length, int64_t vocab_size,
                          const char* what) {
  const std::string where = std::string("clip text ") + what + ": ";
  if (!input_ids.defined() || input_ids.dim() != 2) throw std::invalid_argument(where + "input_ids must be (B, T)");
  if (!c10::isIntegralType(input_ids.scalar_type(), /*includeBool=*/false)) {
    throw std::invalid_argument(where + "input_ids must have an integer dtype");
  }
  const int64_t t = input_ids.size(1);
  if (length >= 0 ? t != length : (t < 1 || t > max_length)) {
    throw std::invalid_argument(where + "input_ids has " + std::to_string(t) + " tokens, expected " +
                                (length >= 0 ? std::to_string(length) : "1.." + std::to_string(max_length)));
  }
  const torch::Tensor ids = input_ids.to(torch::kInt64);
  if (ids.numel() > 0 && (ids.min().item<int64_t>() < 0 || ids.max().item<int64_t>() >= vocab_size)) {
    throw std::invalid_argument(where + "input_ids outside the vocabulary [0, " + std::to_string(vocab_size) + ")");
  }
  return ids;
}

// attention_mask as bool "key allowed", after checking it matches `ids`.
torch::Tensor checked_mask(const torch::Tensor& attention_mask, const torch::Tensor& ids, const char* what) {
  const std::string where = std::string("clip text ") + what + ": ";
  if (attention_mask.sizes() != ids.sizes()) {
    throw std::invalid_argument(where + "attention_mask must have input_ids' shape (B, T)");
  }
  if (!c10::isIntegralType(attention_mask.scalar_type(), /*includeBool=*/true)) {
    throw std::invalid_argument(where + "attention_mask must have an integer or bool dtype");
  }
  const torch::Tensor as_long = attention_mask.to(torch::kInt64);
  if (as_long.numel() > 0 && (as_long.min().item<int64_t>() < 0 || as_long.max().item<int64_t>() > 1)) {
    throw std::invalid_argument(where + "attention_mask values must be 0 or 1");
  }
  return as_long.to(ids.device()).ne(0);
}

}  // namespace

torch::Tensor ClipTextModel::forward(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  const torch::Tensor ids = checked_ids(input_ids, -1, config_.max_position_embeddings, config_.vocab_size, "forward");
  const torch::Tensor key_allowed =
      attention_mask.defined() ? checked_mask(attention_mask, ids, "forward") : torch::Tensor();
  const torch::Tensor positions =
      torch::arange(ids.size(1), torch::TensorOptions().dtype(torch::kInt64).device(ids.device()));
  return text_model_->forward(ids, positions, key_allowed);
}

torch::Tensor ClipTextModel::encode_pathldm_154(const torch::Tensor& input_ids, const torch::Tensor& attention_mask) {
  const int64_t window = config_.max_position_embeddings;
  const torch::Tensor ids = checked_ids(input_ids, 2 * window, window, config_.vocab_size, "encode_pathldm_154");
  if (!attention_mask.defined())
    throw std::invalid_argument("clip text encode_pathldm_154: attention_mask is required");
  const torch::Tensor key_allowed = checked_mask(attention_mask, ids, "encode_pathldm_154");
  // Positions 0..window-1 for each window: embedding the windows separately
  // and concatenating them gives the same embeddings.
  const torch::Tensor positions =
      torch::arange(window, torch::TensorOptions().dtype(torch::kInt64).device(ids.device())).repeat({2});
  return text_model_->forward(ids, positions, key_allowed);
}

}  // namespace tessera::model
