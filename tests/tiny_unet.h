#pragma once

// The text-conditioned UNet the training tests train: schemas/ldm/tiny-ldm.yaml's
// UNet with 4 latent channels on 8 x 8 latents and a 32-wide context. Shared by
// the in-process tests and the data-parallel worker they launch, so that both
// train the same network.

#include "model/unet_config.h"

namespace tessera::testing {

inline model::UNetConfig tiny_training_unet_config() {
  model::UNetConfig config;
  config.image_size = 8;
  config.in_channels = 4;
  config.out_channels = 4;
  config.model_channels = 32;
  config.attention_resolutions = {2};
  config.num_res_blocks = 1;
  config.channel_mult = {1, 2};
  config.num_heads = 1;
  config.use_spatial_transformer = true;
  config.transformer_depth = 1;
  config.context_dim = 32;
  return config;
}

}  // namespace tessera::testing
