#include "prompts/prompt_options.h"

#include "base/error.h"

namespace tessera::stages {

void check_token_budget(size_t budget, const std::string& what) {
  if (budget < kMinTokenBudget || budget > kClipContext) {
    throw Error(what + " must be in " + std::to_string(kMinTokenBudget) + ".." + std::to_string(kClipContext) +
                " (CLIP's context, start and end tokens included)");
  }
}

}  // namespace tessera::stages
