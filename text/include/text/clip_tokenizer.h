#pragma once

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace tessera::text {

// OpenAI CLIP's byte-level BPE tokenizer (simple_tokenizer.py), giving the
// same ids for the same text. The text is first cleaned as CLIP cleans it
// (see text_cleanup.h, which also says what of ftfy is not reproduced), split
// by CLIP's pre-tokenising pattern, and each piece is byte-encoded and merged
// by rank. The pattern's letter and number classes come from RE2's Unicode
// tables; a character assigned in a later Unicode version than those tables
// know may split differently from a newer Python regex module.
//
// Copies share one vocabulary and one word cache. Every method is const and
// may be called from any number of threads at once.
class ClipTokenizer {
 public:
  static constexpr size_t kContextLength = 77;

  // The most merges CLIP's simple_tokenizer.py reads from its file.
  static constexpr size_t kClipMerges = 49152 - 256 - 2;

  // A vocabulary in CLIP's format, as bpe_simple_vocab_16e6.txt.gz: a gzip
  // file (an uncompressed copy is read as well) of a header line and one
  // merge per line in rank order, of which the first kClipMerges are used.
  // Ids follow CLIP's layout: the 256 byte symbols, the same with "</w>", one
  // per merge, then <|startoftext|> and <|endoftext|> (49406 and 49407 for
  // CLIP's own file; a vocabulary of fewer merges, as learn_bpe_merges makes,
  // has them right after its merges).
  static ClipTokenizer from_bpe_gz(const std::string& path);

  // A Hugging Face pair: vocab.json maps token -> id; merges.txt holds one
  // "a b" merge per line in rank order after an optional "#version" line.
  // The vocabulary must hold the 512 byte symbols, both special tokens and
  // every merge's parts and result.
  static ClipTokenizer from_hugging_face(const std::string& vocab_json, const std::string& merges_txt);

  // CLIP's layout built from merge lines "a b" in rank order, as
  // from_bpe_gz builds it from the file's lines.
  static ClipTokenizer from_merges(const std::vector<std::string>& merges);

  // The ids of `text`, without start and end tokens. Bytes that are not
  // UTF-8 read as U+FFFD.
  std::vector<int32_t> encode(std::string_view text) const;

  std::vector<std::string> token_strings(const std::vector<int32_t>& ids) const;

  // As CLIP's decode: the tokens' bytes as UTF-8 (bad sequences as U+FFFD),
  // each "</w>" as a space.
  std::string decode(const std::vector<int32_t>& ids) const;

  // Start token, encode(text), end token: at most context_length ids. Longer
  // ones keep their first context_length - 1 ids and end with the end token
  // when `truncate`, else throw tessera::Error.
  std::vector<int32_t> tokenize(std::string_view text, size_t context_length = kContextLength,
                                bool truncate = true) const;

  // encode(text).size() + 2: the length tokenize would give without a limit.
  size_t count_tokens(std::string_view text) const;

  // The merges, "a b" each, in rank order: what identifies the vocabulary.
  std::vector<std::string> merges() const;

  // The pieces CLIP's pre-tokenising pattern splits the cleaned text into,
  // the words BPE merges within. Special tokens are pieces of their own.
  static std::vector<std::string> pre_tokens(std::string_view text);
  // A piece's symbols before any merge: one per byte, in CLIP's byte-to-
  // character map, the last with "</w>".
  static std::vector<std::string> byte_symbols(std::string_view piece);
  static bool is_special_token(std::string_view piece);

  int32_t start_token() const;
  int32_t end_token() const;
  size_t vocab_size() const;

 private:
  struct Model;
  explicit ClipTokenizer(std::shared_ptr<Model> model);

  std::shared_ptr<Model> model_;
};

}  // namespace tessera::text
