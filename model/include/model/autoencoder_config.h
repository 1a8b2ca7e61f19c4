#pragma once

// Hyper-parameters of a CompVis latent-diffusion first-stage autoencoder
// (ldm.models.autoencoder.VQModelInterface / AutoencoderKL): the `ddconfig`
// block plus embed_dim, n_embed and the LDM's scale_factor. Torch-free so that
// config readers outside model/ can fill it without including LibTorch.

#include <cstdint>
#include <string>
#include <vector>

#include "model/config_error.h"

namespace tessera::model {

enum class AutoencoderKind { kVq, kKl };

struct AutoencoderConfig {
  AutoencoderKind kind = AutoencoderKind::kKl;
  int64_t ch = 128;
  int64_t out_ch = 3;
  int64_t in_channels = 3;
  int64_t resolution = 256;
  int64_t z_channels = 4;
  bool double_z = true;
  std::vector<int64_t> ch_mult = {1, 2, 4, 4};
  int64_t num_res_blocks = 2;
  std::vector<int64_t> attn_resolutions = {};
  double dropout = 0.0;
  int64_t embed_dim = 4;
  int64_t n_embed = 0;  // VQ codebook size; unused for KL
  // Latents are multiplied by this before diffusion (LDM's first-stage scale).
  double scale_factor = 1.0;

  // Throws ConfigError naming the first inconsistent field. The
  // channel counts must suit GroupNorm(32), and a KL model needs double_z
  // (its encoder emits mean and log-variance).
  void validate() const {
    auto fail = [](const char* field, const std::string& what) {
      throw ConfigError("autoencoder config: " + what, "", field);
    };
    if (ch <= 0 || ch % 32 != 0) fail("ch", "ch must be a positive multiple of 32, got " + std::to_string(ch));
    if (in_channels <= 0) fail("in_channels", "in_channels must be positive");
    if (out_ch <= 0) fail("out_ch", "out_ch must be positive");
    if (z_channels <= 0) fail("z_channels", "z_channels must be positive");
    if (embed_dim <= 0) fail("embed_dim", "embed_dim must be positive");
    if (num_res_blocks <= 0) fail("num_res_blocks", "num_res_blocks must be positive");
    if (ch_mult.empty()) fail("ch_mult", "ch_mult must not be empty");
    for (int64_t mult : ch_mult) {
      if (mult <= 0) fail("ch_mult", "ch_mult entries must be positive");
    }
    if (resolution <= 0) fail("resolution", "resolution must be positive");
    int64_t res = resolution;
    for (size_t level = 1; level < ch_mult.size(); ++level) {
      if (res % 2 != 0) {
        fail("resolution", "resolution " + std::to_string(resolution) + " must be divisible by 2^(len(ch_mult)-1)");
      }
      res /= 2;
    }
    if (dropout < 0.0 || dropout >= 1.0) fail("dropout", "dropout must be in [0, 1)");
    if (!(scale_factor > 0.0)) fail("scale_factor", "scale_factor must be positive");
    if (kind == AutoencoderKind::kVq) {
      if (n_embed <= 0) fail("n_embed", "a VQ model needs n_embed > 0");
    } else if (!double_z) {
      fail("double_z", "a KL model needs double_z");
    }
  }
};

}  // namespace tessera::model
