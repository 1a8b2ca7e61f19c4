#include "model/lpips.h"

#include <torch/torch.h>

#include "model/safetensors.h"
#include "model/state_dict_loader.h"

namespace tessera::model {
namespace {

struct VggConv {
  size_t slice;     // 0-based: slice1 .. slice5
  int index;        // position in torchvision's vgg16().features
  int64_t in, out;  // channels
};

constexpr VggConv kVggConvs[] = {{0, 0, 3, 64},     {0, 2, 64, 64},    {1, 5, 64, 128},   {1, 7, 128, 128},
                                 {2, 10, 128, 256}, {2, 12, 256, 256}, {2, 14, 256, 256}, {3, 17, 256, 512},
                                 {3, 19, 512, 512}, {3, 21, 512, 512}, {4, 24, 512, 512}, {4, 26, 512, 512},
                                 {4, 28, 512, 512}};

// Unit length along the channels at every position, as lpips.normalize_tensor.
torch::Tensor unit_normalise(const torch::Tensor& features) {
  return features / (torch::sqrt(torch::sum(features * features, 1, /*keepdim=*/true)) + 1e-10);
}

}  // namespace

Lpips::Lpips() {
  auto net = register_module("net", std::make_shared<torch::nn::Module>());
  std::array<std::shared_ptr<torch::nn::Module>, 5> slices;
  for (size_t i = 0; i < slices.size(); ++i) {
    slices[i] = net->register_module("slice" + std::to_string(i + 1), std::make_shared<torch::nn::Module>());
  }
  for (const VggConv& layer : kVggConvs) {
    auto conv = slices[layer.slice]->register_module(
        std::to_string(layer.index), torch::nn::Conv2d(torch::nn::Conv2dOptions(layer.in, layer.out, 3).padding(1)));
    slices_[layer.slice].push_back(conv);
  }
  for (size_t k = 0; k < lins_.size(); ++k) {
    // NetLinLayer: model = Sequential(Dropout, Conv2d), so the conv is "model.1".
    auto lin = register_module("lin" + std::to_string(k), std::make_shared<torch::nn::Module>());
    auto model = lin->register_module("model", std::make_shared<torch::nn::Module>());
    auto conv =
        model->register_module("1", torch::nn::Conv2d(torch::nn::Conv2dOptions(kChannels[k], 1, 1).bias(false)));
    lins_[k] = conv;
  }
  for (torch::Tensor& parameter : parameters()) parameter.set_requires_grad(false);
  eval();
}

std::vector<torch::Tensor> Lpips::features(const torch::Tensor& scaled) {
  namespace F = torch::nn::functional;
  std::vector<torch::Tensor> out;
  torch::Tensor h = scaled;
  for (size_t k = 0; k < slices_.size(); ++k) {
    if (k > 0) h = F::max_pool2d(h, F::MaxPool2dFuncOptions(2).stride(2));
    for (const auto& conv : slices_[k]) h = torch::relu(conv->forward(h));
    out.push_back(h);
  }
  return out;
}

torch::Tensor Lpips::forward(const torch::Tensor& x, const torch::Tensor& y) {
  const auto options = torch::TensorOptions().dtype(x.scalar_type()).device(x.device());
  const torch::Tensor shift = torch::tensor({kShift[0], kShift[1], kShift[2]}, options).view({1, 3, 1, 1});
  const torch::Tensor scale = torch::tensor({kScale[0], kScale[1], kScale[2]}, options).view({1, 3, 1, 1});
  // Both images through VGG in one batch.
  const int64_t batch = x.size(0);
  const std::vector<torch::Tensor> both = features((torch::cat({x, y}, 0) - shift) / scale);
  torch::Tensor distance;
  for (size_t k = 0; k < both.size(); ++k) {
    const torch::Tensor difference =
        unit_normalise(both[k].narrow(0, 0, batch)) - unit_normalise(both[k].narrow(0, batch, batch));
    const torch::Tensor term = lins_[k]->forward(difference * difference).mean({2, 3}, /*keepdim=*/true);
    distance = k == 0 ? term : distance + term;
  }
  return distance;
}

std::shared_ptr<Lpips> load_lpips(const std::string& path) {
  const WeightsSet weights = WeightsSet::open(path);
  std::string prefix;
  bool found = false;
  for (const char* candidate : {"", "loss.perceptual_loss.", "first_stage_model.loss.perceptual_loss."}) {
    if (weights.find(std::string(candidate) + "lin0.model.1.weight") != nullptr) {
      prefix = candidate;
      found = true;
      break;
    }
  }
  if (!found) {
    throw WeightsError(
        "perceptual weights " + path +
            ": not LPIPS (VGG16) weights: no lin0.model.1.weight, loss.perceptual_loss.lin0.model.1.weight "
            "or first_stage_model.loss.perceptual_loss.lin0.model.1.weight",
        path);
  }
  auto lpips = std::make_shared<Lpips>();
  load_weights(*lpips, weights, prefix, Lpips::ignored_checkpoint_keys());
  return lpips;
}

}  // namespace tessera::model
