#pragma once

#include <string>

namespace tessera::stages {

// The environment variable naming CLIP's BPE vocabulary when no flag does.
inline constexpr const char* kClipVocabularyVariable = "TESSERA_CLIP_VOCAB";

// The path of CLIP's BPE vocabulary (bpe_simple_vocab_16e6.txt.gz): `flag`
// when given, else $TESSERA_CLIP_VOCAB, else `fallback` (e.g. the file a run
// recorded) when not "". When none is set, throws tessera::Error saying what
// needs it (`needed_for`, e.g. "prompts") and how to give it, followed by
// `alternative` (another way to give one, or "").
std::string clip_vocabulary_path(const std::string& flag, const std::string& needed_for,
                                 const std::string& alternative = "", const std::string& fallback = "");

}  // namespace tessera::stages
