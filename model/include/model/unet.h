#pragma once

// The denoiser of CompVis latent-diffusion
// (ldm/modules/diffusionmodules/openaimodel.py: UNetModel with its ResBlock,
// AttentionBlock, Downsample, Upsample and TimestepEmbedSequential, and
// ldm/modules/attention.py's SpatialTransformer), reimplemented as
// torch::nn modules. Every submodule is registered under upstream's attribute
// name (sequential children "0", "1", ...), so the parameter names are an LDM
// checkpoint's keys without the "model.diffusion_model." prefix; load them
// with load_weights (model/state_dict_loader.h).
//
// Tensors are NCHW. The module holds weights and runs forward passes only:
// call eval() (dropout) and hold a torch::NoGradGuard for inference.

#include <torch/nn/module.h>

#include <memory>
#include <vector>

#include "model/gradient_checkpoint.h"
#include "model/unet_config.h"

namespace torch::nn {
class LinearImpl;
class ModuleListImpl;
class GroupNormImpl;
class Conv2dImpl;
}  // namespace torch::nn

namespace tessera::model {

class UNetBlock;

// Upstream's timestep_embedding: cat[cos(t * f), sin(t * f)] with
// f_i = exp(-ln(max_period) * i / (dim / 2)), zero-padded to `dim` when odd.
// timesteps (B) of any numeric dtype -> (B, dim) float32.
torch::Tensor timestep_embedding(const torch::Tensor& timesteps, int64_t dim, double max_period = 10000.0);

// Intermediate values of one UNet::forward, for parity checks.
struct UNetTrace {
  torch::Tensor t_emb;                       // (B, model_channels) sinusoidal embedding
  torch::Tensor emb;                         // (B, 4 * model_channels) after time_embed
  std::vector<torch::Tensor> input_blocks;   // each input block's output
  torch::Tensor middle_block;                // the middle block's output
  std::vector<torch::Tensor> output_blocks;  // each output block's output
};

class UNet : public torch::nn::Module {
 public:
  // Validates `config` (ConfigError) and builds float32 modules with
  // LibTorch's default initialisation; load weights before use.
  explicit UNet(UNetConfig config);
  ~UNet() override;

  const UNetConfig& config() const { return config_; }

  // Recompute each block's activations in the backward pass instead of
  // keeping them (model/gradient_checkpoint.h); applies while training with
  // gradients on. Default: off.
  void set_gradient_checkpointing(bool on) { gradient_checkpointing_ = on; }
  bool gradient_checkpointing() const { return gradient_checkpointing_; }

  // eps = UNet(x, t, context): x (B, in_channels, H, W) with H and W divisible
  // by 2^(len(channel_mult)-1), timesteps (B), context (B, L, context_dim) for
  // a spatial-transformer UNet (undefined: the transformers' cross-attention
  // attends to the image itself, as upstream with context None) ->
  // (B, out_channels, H, W). When `trace` is given it receives the
  // intermediate values.
  torch::Tensor forward(const torch::Tensor& x, const torch::Tensor& timesteps, const torch::Tensor& context = {},
                        UNetTrace* trace = nullptr);

 private:
  UNetConfig config_;
  bool gradient_checkpointing_ = false;
  std::vector<CheckpointedBlock> block_calls_;     // input, middle, output blocks, for checkpointed()
  std::shared_ptr<torch::nn::Module> time_embed_;  // 0: Linear(mc, 4mc), 1: SiLU, 2: Linear(4mc, 4mc)
  std::shared_ptr<torch::nn::LinearImpl> time_embed_in_;
  std::shared_ptr<torch::nn::LinearImpl> time_embed_out_;
  std::shared_ptr<torch::nn::ModuleListImpl> input_blocks_list_;
  std::vector<std::shared_ptr<UNetBlock>> input_blocks_;
  std::shared_ptr<UNetBlock> middle_block_;
  std::shared_ptr<torch::nn::ModuleListImpl> output_blocks_list_;
  std::vector<std::shared_ptr<UNetBlock>> output_blocks_;
  std::shared_ptr<torch::nn::Module> out_;  // 0: GroupNorm, 1: SiLU, 2: conv
  std::shared_ptr<torch::nn::GroupNormImpl> out_norm_;
  std::shared_ptr<torch::nn::Conv2dImpl> out_conv_;
};

}  // namespace tessera::model
