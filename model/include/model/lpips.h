#pragma once

// LPIPS with VGG16 (Zhang et al. 2018), as the `lpips` package's
// LPIPS(net="vgg", version="0.1") and taming-transformers' LPIPS that
// VQGAN's and LDM's autoencoder losses use, with their parameter names:
//   net.slice1.0.weight / .bias, net.slice1.2.*            conv1_1, conv1_2
//   net.slice2.5.*, net.slice2.7.*                          conv2_1, conv2_2
//   net.slice3.10.*, .12.*, .14.*                           conv3_1 .. conv3_3
//   net.slice4.17.*, .19.*, .21.*                           conv4_1 .. conv4_3
//   net.slice5.24.*, .26.*, .28.*                           conv5_1 .. conv5_3
//   lin0.model.1.weight .. lin4.model.1.weight              (1, C, 1, 1), no bias
// (torchvision's vgg16().features indices inside each slice). The package's
// scaling_layer.shift / .scale buffers are constants here, and its state dict
// repeats the lin layers as lins.0 .. lins.4 (a ModuleList of the same
// modules): both are skipped, so files with or without them load.
//
// For images x, y in [-1, 1] (B, 3, H, W):
//   s(x) = (x - shift) / scale, shift = (-.030, -.088, -.188), scale = (.458, .448, .450)
//   f_k(x) = VGG16 features at relu1_2, relu2_2, relu3_3, relu4_3, relu5_3 of s(x)
//   n(f) = f / (sqrt(sum_c f^2) + 1e-10)                 per position
//   d(x, y) = sum_k mean_{h,w} conv1x1_k((n(f_k(x)) - n(f_k(y)))^2)
// returned per sample as (B, 1, 1, 1). The network is frozen (no parameter
// requires gradients) and in eval mode (the lin layers' dropout is off);
// gradients flow to the inputs.

#include <torch/nn/module.h>

#include <array>
#include <memory>
#include <string>
#include <vector>

namespace torch::nn {
class Conv2dImpl;
}  // namespace torch::nn

namespace tessera::model {

class Lpips : public torch::nn::Module {
 public:
  Lpips();

  static constexpr std::array<float, 3> kShift = {-0.030f, -0.088f, -0.188f};
  static constexpr std::array<float, 3> kScale = {0.458f, 0.448f, 0.450f};
  // Channels of the five feature maps.
  static constexpr std::array<int64_t, 5> kChannels = {64, 128, 256, 512, 512};

  // d(x, y) per sample, (B, 1, 1, 1).
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& y);
  // The five VGG16 feature maps of already scaled input s(x).
  std::vector<torch::Tensor> features(const torch::Tensor& scaled);

  // Keys a weights file may carry that are not parameters here.
  static std::vector<std::string> ignored_checkpoint_keys() { return {"scaling_layer.", "lins."}; }

 private:
  // Each slice's convolutions; slices 2 to 5 start with a 2x2 max pool.
  std::array<std::vector<std::shared_ptr<torch::nn::Conv2dImpl>>, 5> slices_;
  std::array<std::shared_ptr<torch::nn::Conv2dImpl>, 5> lins_;
};

// Builds an Lpips and loads `path` (safetensors) strictly: the tensors under
// "", "loss.perceptual_loss." (a VQGAN / LDM first-stage training checkpoint)
// or "first_stage_model.loss.perceptual_loss.", whichever holds
// "lin0.model.1.weight". Throws WeightsError naming the file and keys.
std::shared_ptr<Lpips> load_lpips(const std::string& path);

}  // namespace tessera::model
