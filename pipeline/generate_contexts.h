#pragma once

#include <cstddef>
#include <map>
#include <set>
#include <string>

#include "generate_prompts.h"
#include "runtime/text_encoder.h"
#include "store/tensor_record.h"

namespace tessera::store {
class Store;
}

namespace tessera::pipeline {

// Prompt id -> text context, for the choices `used` of `plan` and for the
// empty prompt: the store's embeddings by `text_encoder` where `store` (may
// be null) has them, the rest encoded here. Throws what the store and the
// text encoder throw.
std::map<std::string, store::TensorRecord> prompt_contexts(const PromptPlan& plan, const std::set<size_t>& used,
                                                           const store::Store* store,
                                                           runtime::TextEncoder& text_encoder);

}  // namespace tessera::pipeline
