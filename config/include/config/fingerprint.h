#pragma once

// Content fingerprints of a model: which architecture and which weights,
// independent of how the weights are sharded or where they are stored.

#include <string>

#include "model/autoencoder_config.h"
#include "model/clip_text_config.h"
#include "model/safetensors.h"
#include "model/unet_config.h"

namespace tessera::config {

// Every field of the config, one "name=value" line each, in a fixed order.
// Numbers are written locale-independently (doubles in shortest round-trip
// form), lists as [a,b,c], absent values as null.
std::string canonical_text(const model::AutoencoderConfig& config);
std::string canonical_text(const model::UNetConfig& config);
std::string canonical_text(const model::ClipTextConfig& config);

// The XXH3-128 of `canonical_config` and, for every tensor of `weights`
// whose name starts with `prefix`, in sorted name order: its name (less the
// prefix, so that the same model stored under another prefix has the same
// id), dtype, shape and raw bytes. The hashed stream, with u64 little-endian
// and str = u64 byte length + bytes:
//   str "tessera-model-fingerprint-v1", str canonical_config,
//   per tensor: str name, str dtype ("F32", ...), u64 rank, u64 each dim,
//               u64 byte count, the bytes;
//   u64 tensor count.
// So the id is the same on every machine and for any split into shards.
// Returned as the canonical (big-endian) digest in 32 lowercase hex digits.
// Throws tessera::Error when no tensor has the prefix.
std::string model_fingerprint(const std::string& canonical_config, const model::WeightsSet& weights,
                              const std::string& prefix);

}  // namespace tessera::config
