#include "pipeline/encode.h"

#include <filesystem>

#include "base/error.h"
#include "interrupt.h"
#include "store/store.h"

namespace tessera::pipeline {

namespace fs = std::filesystem;

EncodeSummary run_encode(const EncodeOptions& options) {
  // The model is loaded and checked before the store is opened: a truncated
  // or mismatched weights file stops the run with nothing written.
  const auto encoder = runtime::LatentEncoder::open(options.encoder);
  const auto mode = resolve_mode(options.progress);
  if (options.out.empty()) {
    auto store = store::Store::open(options.store);
    InterruptScope interrupt;
    return encode_missing(*store, *store, *encoder, options.batch, options.jobs, mode, options.shard);
  }
  if (fs::weakly_canonical(options.out) == fs::weakly_canonical(options.store)) {
    throw Error("--out " + options.out.string() + " is the store given by --store; leave --out out to write there");
  }
  store::StoreOptions read_only;
  read_only.read_only = true;
  const auto tiles = store::Store::open(options.store, read_only);
  auto latents = store::Store::open(options.out);
  InterruptScope interrupt;
  return encode_missing(*tiles, *latents, *encoder, options.batch, options.jobs, mode, options.shard);
}

}  // namespace tessera::pipeline
