#include "model/init.h"

#include <ATen/CPUGeneratorImpl.h>
#include <torch/nn/modules/conv.h>
#include <torch/nn/modules/embedding.h>
#include <torch/nn/modules/linear.h>
#include <torch/nn/modules/normalization.h>
#include <torch/torch.h>

#include <cmath>
#include <functional>
#include <stdexcept>
#include <string>
#include <unordered_set>

#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/unet.h"

namespace tessera::model {
namespace {

// How one module's parameters are drawn.
struct ModuleRule {
  enum class Kind {
    kDefault,  // PyTorch's reset_parameters (see init.h)
    kZero,     // weight and bias 0 (LDM's zero_module)
    kNormal,   // weight N(0, scale), bias 0
    kUniform,  // weight U(-scale, scale), bias 0
  };
  Kind kind = Kind::kDefault;
  double scale = 0.0;
};

using RuleFor = std::function<ModuleRule(const std::string& name)>;

// Whether the dotted module path `name` ends with the components `suffix`.
bool ends_with_path(const std::string& name, const std::string& suffix) {
  if (name == suffix) return true;
  return name.size() > suffix.size() && name.compare(name.size() - suffix.size(), suffix.size(), suffix) == 0 &&
         name[name.size() - suffix.size() - 1] == '.';
}

class Initializer {
 public:
  explicit Initializer(uint64_t seed) : generator_(at::detail::createCPUGenerator(seed)) {}

  void uniform(torch::Tensor& parameter, double bound) {
    fill(parameter, torch::empty(parameter.sizes(), torch::kFloat32).uniform_(-bound, bound, generator_));
  }
  void normal(torch::Tensor& parameter, double std) {
    fill(parameter, torch::empty(parameter.sizes(), torch::kFloat32).normal_(0.0, std, generator_));
  }
  void constant(torch::Tensor& parameter, double value) {
    parameter.fill_(value);
    done_.insert(parameter.unsafeGetTensorImpl());
  }

  // Weight and bias of a conv or linear layer with `fan_in` inputs per output.
  void weighted(torch::Tensor& weight, torch::Tensor& bias, int64_t fan_in, const ModuleRule& rule) {
    const double default_bound = fan_in > 0 ? 1.0 / std::sqrt(static_cast<double>(fan_in)) : 0.0;
    switch (rule.kind) {
      case ModuleRule::Kind::kDefault:
        uniform(weight, default_bound);
        if (bias.defined()) uniform(bias, default_bound);
        return;
      case ModuleRule::Kind::kZero:
        constant(weight, 0.0);
        break;
      case ModuleRule::Kind::kNormal:
        normal(weight, rule.scale);
        break;
      case ModuleRule::Kind::kUniform:
        uniform(weight, rule.scale);
        break;
    }
    if (bias.defined()) constant(bias, 0.0);
  }

  bool done(const torch::Tensor& parameter) const { return done_.count(parameter.unsafeGetTensorImpl()) != 0; }

 private:
  void fill(torch::Tensor& parameter, const torch::Tensor& values) {
    parameter.copy_(values);
    done_.insert(parameter.unsafeGetTensorImpl());
  }

  at::Generator generator_;
  std::unordered_set<const void*> done_;
};

int64_t conv_fan_in(const torch::Tensor& weight) {
  int64_t fan_in = weight.size(1);
  for (int64_t d = 2; d < weight.dim(); ++d) fan_in *= weight.size(d);
  return fan_in;
}

void initialize_module(torch::nn::Module& root, uint64_t seed, const RuleFor& rule_for, const std::string& what) {
  torch::NoGradGuard no_grad;
  Initializer init(seed);
  for (const auto& item : root.named_modules("", /*include_self=*/false)) {
    const std::string& name = item.key();
    torch::nn::Module* module = item.value().get();
    const ModuleRule rule = rule_for(name);
    if (auto* conv2 = dynamic_cast<torch::nn::Conv2dImpl*>(module)) {
      init.weighted(conv2->weight, conv2->bias, conv_fan_in(conv2->weight), rule);
    } else if (auto* conv1 = dynamic_cast<torch::nn::Conv1dImpl*>(module)) {
      init.weighted(conv1->weight, conv1->bias, conv_fan_in(conv1->weight), rule);
    } else if (auto* linear = dynamic_cast<torch::nn::LinearImpl*>(module)) {
      init.weighted(linear->weight, linear->bias, linear->weight.size(1), rule);
    } else if (auto* group_norm = dynamic_cast<torch::nn::GroupNormImpl*>(module)) {
      if (group_norm->weight.defined()) init.constant(group_norm->weight, 1.0);
      if (group_norm->bias.defined()) init.constant(group_norm->bias, 0.0);
    } else if (auto* layer_norm = dynamic_cast<torch::nn::LayerNormImpl*>(module)) {
      if (layer_norm->weight.defined()) init.constant(layer_norm->weight, 1.0);
      if (layer_norm->bias.defined()) init.constant(layer_norm->bias, 0.0);
    } else if (auto* embedding = dynamic_cast<torch::nn::EmbeddingImpl*>(module)) {
      switch (rule.kind) {
        case ModuleRule::Kind::kDefault:
          init.normal(embedding->weight, 1.0);
          break;
        case ModuleRule::Kind::kZero:
          init.constant(embedding->weight, 0.0);
          break;
        case ModuleRule::Kind::kNormal:
          init.normal(embedding->weight, rule.scale);
          break;
        case ModuleRule::Kind::kUniform:
          init.uniform(embedding->weight, rule.scale);
          break;
      }
    }
  }
  for (const auto& parameter : root.named_parameters(/*recurse=*/true)) {
    if (!init.done(parameter.value())) {
      throw std::logic_error(what + ": no initialisation rule for parameter " + parameter.key());
    }
  }
}

}  // namespace

void initialize_unet(UNet& unet, uint64_t seed) {
  initialize_module(
      unet, seed,
      [](const std::string& name) {
        ModuleRule rule;
        if (name == "out.2" || ends_with_path(name, "out_layers.3") || ends_with_path(name, "proj_out")) {
          rule.kind = ModuleRule::Kind::kZero;
        }
        return rule;
      },
      "initialize_unet");
}

void initialize_autoencoder(Autoencoder& autoencoder, uint64_t seed) {
  const double codebook_bound =
      autoencoder.config().n_embed > 0 ? 1.0 / static_cast<double>(autoencoder.config().n_embed) : 0.0;
  initialize_module(
      autoencoder, seed,
      [codebook_bound](const std::string& name) {
        ModuleRule rule;
        if (name == "quantize.embedding") rule = {ModuleRule::Kind::kUniform, codebook_bound};
        return rule;
      },
      "initialize_autoencoder");
}

void initialize_clip_text(ClipTextModel& model, uint64_t seed) {
  const double width = static_cast<double>(model.config().hidden_size);
  const double layers = static_cast<double>(model.config().num_hidden_layers);
  const double in_proj_std = std::pow(width, -0.5) * std::pow(2.0 * layers, -0.5);
  const double out_proj_std = std::pow(width, -0.5);
  const double fc_std = std::pow(2.0 * width, -0.5);
  initialize_module(
      model, seed,
      [=](const std::string& name) {
        using Kind = ModuleRule::Kind;
        if (ends_with_path(name, "embeddings.token_embedding") ||
            ends_with_path(name, "embeddings.position_embedding")) {
          return ModuleRule{Kind::kNormal, 0.02};
        }
        if (ends_with_path(name, "self_attn.q_proj") || ends_with_path(name, "self_attn.k_proj") ||
            ends_with_path(name, "self_attn.v_proj") || ends_with_path(name, "mlp.fc2")) {
          return ModuleRule{Kind::kNormal, in_proj_std};
        }
        if (ends_with_path(name, "self_attn.out_proj")) return ModuleRule{Kind::kNormal, out_proj_std};
        if (ends_with_path(name, "mlp.fc1")) return ModuleRule{Kind::kNormal, fc_std};
        return ModuleRule{};
      },
      "initialize_clip_text");
}

}  // namespace tessera::model
