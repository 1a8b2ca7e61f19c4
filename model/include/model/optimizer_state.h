#pragma once

// Per-parameter state of LibTorch's Adam-family optimisers, for checkpoints.

#include <torch/optim/optimizer.h>

#include <memory>
#include <sstream>
#include <string>
#include <type_traits>

namespace tessera::model {

// LibTorch keys optimiser state by the parameter's TensorImpl: as the pointer
// printed to a string up to 1.13, as the pointer itself from 2.x on.
template <typename StateMap>
typename StateMap::key_type optimizer_state_key(const StateMap&, const torch::Tensor& parameter) {
  using Key = typename StateMap::key_type;
  if constexpr (std::is_same_v<Key, std::string>) {
    std::ostringstream text;
    text << parameter.unsafeGetTensorImpl();
    return text.str();
  } else {
    return static_cast<Key>(parameter.unsafeGetTensorImpl());
  }
}

// The parameter's state (State: AdamParamState or AdamWParamState), or
// nullptr before its first step.
template <typename State, typename Optimizer>
const State* find_parameter_state(const Optimizer& optimizer, const torch::Tensor& parameter) {
  const auto& map = optimizer.state();
  const auto found = map.find(optimizer_state_key(map, parameter));
  return found == map.end() ? nullptr : static_cast<const State*>(found->second.get());
}

// The parameter's state, created at step 0 with zero moments when absent:
// the optimiser creates it on the first step, restoring needs it before.
template <typename State, typename Optimizer>
State& parameter_state(Optimizer& optimizer, const torch::Tensor& parameter) {
  auto& map = optimizer.state();
  const auto key = optimizer_state_key(map, parameter);
  auto found = map.find(key);
  if (found == map.end()) {
    auto state = std::make_unique<State>();
    state->step(0);
    state->exp_avg(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    state->exp_avg_sq(torch::zeros_like(parameter, torch::MemoryFormat::Preserve));
    found = map.emplace(key, std::move(state)).first;
  }
  return static_cast<State&>(*found->second);
}

}  // namespace tessera::model
