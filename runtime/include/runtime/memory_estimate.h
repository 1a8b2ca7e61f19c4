#pragma once

// The peak memory of a model's forward pass over a batch, estimated from its
// config before the run (runtime/memory_budget.h fits the batch to it). It
// counts what is live at once in the largest stage of the network, for every
// item of the batch, plus the attention's score chunks (bounded by
// model/attention.h) and the batch's input; the weights are not counted, as
// they are loaded before the estimate is checked.

#include <cstddef>
#include <cstdint>

#include "model/autoencoder_config.h"

namespace tessera::runtime {

// Bytes at the peak of encoding `batch` tiles of `side` px (a multiple of the
// downsampling factor) with `config`'s encoder in fp32 without gradients.
uint64_t encode_peak_bytes(const model::AutoencoderConfig& config, int64_t side, size_t batch);

}  // namespace tessera::runtime
