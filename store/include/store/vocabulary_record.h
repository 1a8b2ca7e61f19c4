#pragma once

#include <cstdint>
#include <string>

namespace tessera::store {

// The BPE vocabulary a store's prompts were tokenised with, under meta key
// "vocabulary". A prompt's token ids mean something only in its vocabulary,
// so a store holds the prompts of one vocabulary, and every text model and
// training run that uses them records its fingerprint.
struct VocabularyRecord {
  std::string fingerprint;  // 32 lowercase hex digits, of the merges in rank order
  std::string path;         // the file it was read from, absolute
  bool is_clip = false;     // OpenAI CLIP's bpe_simple_vocab_16e6, which real weights need
  uint64_t merges = 0;
  int32_t start_token = 0;
  int32_t end_token = 0;
};

// "CLIP's bpe_simple_vocab_16e6" or "a vocabulary of N merges that is not
// CLIP's", with the fingerprint and path: how errors and `info` name it.
std::string describe(const VocabularyRecord& record);

std::string encode_vocabulary_record(const VocabularyRecord& record);
VocabularyRecord decode_vocabulary_record(const std::string& json);

}  // namespace tessera::store
