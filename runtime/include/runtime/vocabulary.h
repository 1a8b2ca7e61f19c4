#pragma once

// A BPE vocabulary with its identity. A prompt's token ids mean something only
// in the vocabulary that made them, and a text encoder's embedding table only
// in the one it learned, so the vocabulary is recorded beside the prompts
// (the store), the text model that embeds them and the run trained on them,
// and checked wherever two of these meet.

#include <optional>
#include <string>
#include <vector>

#include "store/model_record.h"
#include "store/store.h"
#include "store/vocabulary_record.h"
#include "text/clip_tokenizer.h"

namespace tessera::runtime {

struct Vocabulary {
  text::ClipTokenizer tokenizer;
  store::VocabularyRecord record;
};

// A vocabulary file in CLIP's format (text::ClipTokenizer::from_bpe_gz).
// Throws tessera::Error naming the file when it cannot be read.
[[nodiscard]] Vocabulary load_vocabulary(const std::string& path);

// The identity of a vocabulary: a fingerprint of its merges in rank order, so
// a copy, or the same merges recompressed, is the same vocabulary.
[[nodiscard]] std::string vocabulary_fingerprint(const std::vector<std::string>& merges);

// Records `vocabulary` as the store's, before prompts tokenised with it are
// written. A store keeps the prompts of one vocabulary: throws tessera::Error
// naming both when it holds prompts of another (a store that predates the
// record holds CLIP's).
void claim_store_vocabulary(store::Store& store, const store::VocabularyRecord& vocabulary);

// Throws tessera::Error naming both when the text model `text` embedded the
// prompts of another vocabulary than `prompts` (the store's, in `where`). A
// model with none recorded embedded CLIP's prompts or none.
void require_embedded_with(const store::ModelRecord& text, const std::optional<store::VocabularyRecord>& prompts,
                           const std::string& where);

// Throws tessera::Error naming both when `used` (what `user` was tokenised or
// embedded with) is not `expected` (what `owner` records), and saying how to
// make them agree.
void require_vocabulary(const std::string& expected, const std::string& owner, const std::string& used,
                        const std::string& user);

}  // namespace tessera::runtime
