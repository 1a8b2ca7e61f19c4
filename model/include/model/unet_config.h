#pragma once

// Hyper-parameters of CompVis latent-diffusion's denoiser
// (ldm.modules.diffusionmodules.openaimodel.UNetModel): the `unet_config`
// params block of an LDM yaml. Torch-free so that config readers outside
// model/ can fill it without including LibTorch. Class-conditioning
// (num_classes) and use_new_attention_order are not part of it: the UNet
// always uses upstream's legacy QKV split.

#include <cstdint>
#include <string>
#include <vector>

#include "model/config_error.h"

namespace tessera::model {

struct UNetConfig {
  int64_t image_size = 64;  // informational, as upstream (the forward pass takes any divisible size)
  int64_t in_channels = 4;
  int64_t out_channels = 4;
  int64_t model_channels = 128;
  // Downsample factors (1, 2, 4, ...) whose levels get an attention block.
  std::vector<int64_t> attention_resolutions = {};
  int64_t num_res_blocks = 2;
  std::vector<int64_t> channel_mult = {1, 2, 4, 8};
  double dropout = 0.0;
  bool conv_resample = true;
  int64_t dims = 2;
  int64_t num_heads = -1;          // -1: derived from num_head_channels
  int64_t num_head_channels = -1;  // -1: derived from num_heads
  bool use_scale_shift_norm = false;
  bool resblock_updown = false;
  bool use_spatial_transformer = false;
  int64_t transformer_depth = 1;
  int64_t context_dim = -1;  // -1: none (upstream's None)
  bool legacy = true;
  int64_t num_heads_upsample = -1;  // -1: num_heads

  // Throws ConfigError naming the first inconsistent field. Only
  // 2-D UNets are supported, every level's channel count must suit
  // GroupNorm(32), and the heads must divide the channels where attention is.
  void validate() const {
    auto fail = [](const char* field, const std::string& what) {
      throw ConfigError("unet config: " + what, "", field);
    };
    if (image_size <= 0) fail("image_size", "image_size must be positive");
    if (in_channels <= 0) fail("in_channels", "in_channels must be positive");
    if (out_channels <= 0) fail("out_channels", "out_channels must be positive");
    if (model_channels <= 0 || model_channels % 32 != 0) {
      fail("model_channels", "model_channels must be a positive multiple of 32, got " + std::to_string(model_channels));
    }
    if (num_res_blocks <= 0) fail("num_res_blocks", "num_res_blocks must be positive");
    if (channel_mult.empty()) fail("channel_mult", "channel_mult must not be empty");
    for (int64_t mult : channel_mult) {
      if (mult <= 0) fail("channel_mult", "channel_mult entries must be positive");
    }
    // Upstream's final conv reads model_channels from a GroupNorm over
    // model_channels * channel_mult[0].
    if (channel_mult[0] != 1) fail("channel_mult", "channel_mult[0] must be 1");
    for (int64_t factor : attention_resolutions) {
      if (factor <= 0)
        fail("attention_resolutions", "attention_resolutions entries must be positive downsample factors");
    }
    if (dropout < 0.0 || dropout >= 1.0) fail("dropout", "dropout must be in [0, 1)");
    if (dims != 2) fail("dims", "only dims 2 is supported, got " + std::to_string(dims));
    if (num_heads == -1 && num_head_channels == -1)
      fail("num_heads", "either num_heads or num_head_channels must be set");
    if (num_heads != -1 && num_heads <= 0) fail("num_heads", "num_heads must be positive or -1");
    if (num_head_channels != -1 && num_head_channels <= 0)
      fail("num_head_channels", "num_head_channels must be positive or -1");
    if (num_heads_upsample != -1 && num_heads_upsample <= 0)
      fail("num_heads_upsample", "num_heads_upsample must be positive or -1");
    if (use_spatial_transformer) {
      if (context_dim <= 0) fail("context_dim", "use_spatial_transformer needs a positive context_dim");
      if (transformer_depth <= 0) fail("transformer_depth", "transformer_depth must be positive");
    } else if (context_dim != -1) {
      fail("context_dim", "context_dim needs use_spatial_transformer");
    }
    // Levels with attention: those whose downsample factor is listed, and the
    // lowest one (the middle block always attends).
    const int64_t heads_up = num_heads_upsample == -1 ? num_heads : num_heads_upsample;
    int64_t factor = 1;
    for (size_t level = 0; level < channel_mult.size(); ++level, factor *= 2) {
      bool attends = level + 1 == channel_mult.size();
      for (int64_t listed : attention_resolutions) attends = attends || listed == factor;
      if (!attends) continue;
      const int64_t channels = model_channels * channel_mult[level];
      const std::string where = " at level " + std::to_string(level) + " (" + std::to_string(channels) + " channels)";
      if (num_head_channels != -1) {
        if (channels % num_head_channels != 0)
          fail("num_head_channels", "num_head_channels must divide the channels" + where);
      } else {
        if (channels % num_heads != 0) fail("num_heads", "num_heads must divide the channels" + where);
        if (!use_spatial_transformer && legacy && heads_up != -1 && channels % heads_up != 0) {
          fail("num_heads_upsample", "num_heads_upsample must divide the channels" + where);
        }
      }
    }
  }
};

}  // namespace tessera::model
