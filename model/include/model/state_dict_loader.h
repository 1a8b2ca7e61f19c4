#pragma once

// Strict loading of a torch::nn::Module's parameters and buffers from a
// safetensors WeightsSet, by name, as PyTorch's load_state_dict(strict=True)
// on the submodule a checkpoint prefix selects.

#include <string>
#include <vector>

#include "model/safetensors.h"

namespace torch::nn {
class Module;
}  // namespace torch::nn

namespace tessera::model {

// Copies the tensor `prefix + name` of `weights` into each parameter and
// buffer `name` of `module` (names as module.named_parameters() gives them).
// Strict both ways: every parameter and buffer must be present with the same
// shape, and every tensor of the set whose name starts with `prefix` must be
// used, except those whose name after `prefix` starts with one of
// `ignored_prefixes` (e.g. "loss." of VQGAN / KL training checkpoints).
// Floating tensors (F32, F16, BF16, F64) convert to the parameter's floating
// dtype and integer tensors to integer buffers. On any mismatch it throws one
// WeightsError that lists every missing, unexpected, wrongly-shaped
// ("got [..], expected [..]") and wrongly-typed key, and leaves `module`
// unchanged.
void load_weights(torch::nn::Module& module, const WeightsSet& weights, const std::string& prefix,
                  const std::vector<std::string>& ignored_prefixes = {});

}  // namespace tessera::model
