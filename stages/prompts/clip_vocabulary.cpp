#include "prompts/clip_vocabulary.h"

#include <cstdlib>

#include "base/error.h"

namespace tessera::stages {

std::string clip_vocabulary_path(const std::string& flag, const std::string& needed_for, const std::string& alternative,
                                 const std::string& fallback) {
  if (!flag.empty()) return flag;
  if (const char* env = std::getenv(kClipVocabularyVariable); env && *env) return env;
  if (!fallback.empty()) return fallback;
  throw Error("the CLIP BPE vocabulary is needed for " + needed_for +
              ": pass --clip-vocab bpe_simple_vocab_16e6.txt.gz (from OpenAI CLIP's "
              "repository, clip/bpe_simple_vocab_16e6.txt.gz, MIT licence) or set " +
              kClipVocabularyVariable + " to its path" + alternative +
              ". Models that do not start from CLIP's weights may use a vocabulary learned from the reports "
              "instead (tessera learn-vocab)");
}

}  // namespace tessera::stages
