#pragma once

// Upstream-like random initialisation of tessera's LibTorch modules, so that
// demos and tests run without downloaded weights. Deterministic: every value
// is drawn from one CPU generator seeded with `seed`, parameter by parameter
// in registration order, so the same seed and config give the same weights on
// any machine (the values are drawn on the CPU and copied to the parameter's
// device). Each function throws std::logic_error if some parameter of the
// module is not covered by its rules (a module type it does not know).
//
// The default rule is PyTorch's reset_parameters:
//   Conv1d / Conv2d / Linear weight: kaiming_uniform(a = sqrt(5)), which is
//     U(-1/sqrt(fan_in), 1/sqrt(fan_in)) with fan_in = in_channels * kernel size
//     (in_features for Linear); bias: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
//   GroupNorm / LayerNorm: weight 1, bias 0.
//   Embedding: N(0, 1).

#include <cstdint>

namespace tessera::model {

class UNet;
class Autoencoder;
class ClipTextModel;

// LDM's UNetModel: the default rule, except upstream's zero_module layers,
// whose weight and bias are 0:
//   "*.out_layers.3"  every ResBlock's output conv,
//   "*.proj_out"      every AttentionBlock's (Conv1d) and SpatialTransformer's
//                     (Conv2d) output projection,
//   "out.2"           the final conv.
// A freshly initialised UNet therefore predicts exactly 0, as upstream's does.
void initialize_unet(UNet& unet, uint64_t seed);

// LDM's Encoder / Decoder and quant convs: the default rule everywhere (no
// zero-initialised layers upstream), except the VQ codebook
// "quantize.embedding", which taming's VectorQuantizer2 draws from
// U(-1/n_embed, 1/n_embed).
void initialize_autoencoder(Autoencoder& autoencoder, uint64_t seed);

// Hugging Face's CLIPPreTrainedModel._init_weights with initializer_factor 1,
// for width d = hidden_size and L = num_hidden_layers:
//   "*.embeddings.token_embedding", "*.embeddings.position_embedding": N(0, 0.02)
//   "*.self_attn.{q,k,v}_proj" weight: N(0, d^-0.5 (2L)^-0.5)
//   "*.self_attn.out_proj" weight:     N(0, d^-0.5)
//   "*.mlp.fc1" weight:                N(0, (2d)^-0.5)
//   "*.mlp.fc2" weight:                N(0, d^-0.5 (2L)^-0.5)
//   every Linear bias 0; every LayerNorm weight 1, bias 0.
void initialize_clip_text(ClipTextModel& model, uint64_t seed);

}  // namespace tessera::model
