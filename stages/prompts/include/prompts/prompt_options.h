#pragma once

#include <cstddef>
#include <string>

#include "text/clip_tokenizer.h"

namespace tessera::stages {

// The most tokens a prompt can have, start and end included: CLIP's context.
inline constexpr size_t kClipContext = text::ClipTokenizer::kContextLength;
// The smallest token budget: the start and end tokens and one word.
inline constexpr size_t kMinTokenBudget = 3;
// The token budget when none is given, start and end included.
inline constexpr size_t kDefaultTokenBudget = 35;
// The template when none is named: schemas/templates/pathldm.txt.
inline constexpr const char* kDefaultTemplate = "pathldm";

// Throws tessera::Error "`what` must be in 3..77 ..." unless `budget` is within
// kMinTokenBudget..kClipContext; `what` names the flag or field.
void check_token_budget(size_t budget, const std::string& what);

}  // namespace tessera::stages
