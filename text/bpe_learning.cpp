#include "text/bpe_learning.h"

#include <zlib.h>

#include <algorithm>
#include <map>
#include <set>
#include <unordered_map>

#include "base/error.h"
#include "text/clip_tokenizer.h"

namespace tessera::text {
namespace {

uint64_t pair_key(int32_t left, int32_t right) { return uint64_t(uint32_t(left)) << 32 | uint32_t(right); }
int32_t left_of(uint64_t key) { return int32_t(key >> 32); }
int32_t right_of(uint64_t key) { return int32_t(key & 0xffffffffu); }

struct Word {
  std::vector<int32_t> symbols;
  uint64_t count = 0;
};

// The corpus as distinct pieces of interned symbols, with the count of every
// adjacent pair kept current as merges are applied.
class PairCounts {
 public:
  explicit PairCounts(const std::vector<std::string>& texts) : candidates_(Order{&names_}) {
    std::map<std::string, uint64_t> pieces;
    for (const auto& text : texts) {
      for (auto& piece : ClipTokenizer::pre_tokens(text)) {
        if (!ClipTokenizer::is_special_token(piece)) ++pieces[std::move(piece)];
      }
    }
    for (const auto& [piece, count] : pieces) {
      Word word;
      word.count = count;
      for (const auto& symbol : ClipTokenizer::byte_symbols(piece)) word.symbols.push_back(intern(symbol));
      words_.push_back(std::move(word));
    }
    for (uint32_t w = 0; w < words_.size(); ++w) count_pairs(w, +1);
  }

  // The most frequent pair, or none when no pair occurs `min_count` times.
  bool best(uint64_t min_count, uint64_t& key) const {
    if (candidates_.empty() || candidates_.begin()->second < min_count) return false;
    key = candidates_.begin()->first;
    return true;
  }

  std::string merge(uint64_t key) {
    const int32_t left = left_of(key);
    const int32_t right = right_of(key);
    const std::string merged = names_[size_t(left)] + names_[size_t(right)];
    const int32_t result = intern(merged);
    const auto words = std::move(words_of_pair_[key]);
    words_of_pair_.erase(key);
    std::set<uint32_t> done;
    for (const uint32_t w : words) {
      if (!done.insert(w).second) continue;
      auto& symbols = words_[w].symbols;
      bool holds_pair = false;
      for (size_t i = 0; i + 1 < symbols.size() && !holds_pair; ++i) {
        holds_pair = symbols[i] == left && symbols[i + 1] == right;
      }
      if (!holds_pair) continue;  // merged away by an earlier merge
      count_pairs(w, -1);
      std::vector<int32_t> out;
      out.reserve(symbols.size());
      for (size_t i = 0; i < symbols.size();) {
        if (i + 1 < symbols.size() && symbols[i] == left && symbols[i + 1] == right) {
          out.push_back(result);
          i += 2;
        } else {
          out.push_back(symbols[i++]);
        }
      }
      symbols.swap(out);
      count_pairs(w, +1);
    }
    return names_[size_t(left)] + ' ' + names_[size_t(right)];
  }

 private:
  // Most frequent first; ties by the symbols' bytes.
  struct Order {
    const std::vector<std::string>* names;
    bool operator()(const std::pair<uint64_t, uint64_t>& a, const std::pair<uint64_t, uint64_t>& b) const {
      if (a.second != b.second) return a.second > b.second;
      const auto& n = *names;
      const int by_left = n[size_t(left_of(a.first))].compare(n[size_t(left_of(b.first))]);
      if (by_left != 0) return by_left < 0;
      return n[size_t(right_of(a.first))] < n[size_t(right_of(b.first))];
    }
  };

  int32_t intern(const std::string& symbol) {
    const auto [it, added] = ids_.emplace(symbol, int32_t(names_.size()));
    if (added) names_.push_back(symbol);
    return it->second;
  }

  void count_pairs(uint32_t w, int sign) {
    const auto& word = words_[w];
    for (size_t i = 0; i + 1 < word.symbols.size(); ++i) {
      const uint64_t key = pair_key(word.symbols[i], word.symbols[i + 1]);
      uint64_t& count = counts_[key];
      if (count > 0) candidates_.erase({key, count});
      count = sign > 0 ? count + word.count : count - word.count;
      if (count > 0) candidates_.insert({key, count});
      if (sign > 0) words_of_pair_[key].push_back(w);
    }
  }

  std::vector<std::string> names_;
  std::unordered_map<std::string, int32_t> ids_;
  std::vector<Word> words_;
  std::unordered_map<uint64_t, uint64_t> counts_;
  std::set<std::pair<uint64_t, uint64_t>, Order> candidates_;  // (pair, count) of every pair that occurs
  std::unordered_map<uint64_t, std::vector<uint32_t>> words_of_pair_;
};

}  // namespace

std::vector<std::string> learn_bpe_merges(const std::vector<std::string>& texts, const BpeLearning& options) {
  if (options.max_merges > ClipTokenizer::kClipMerges) {
    throw Error("at most " + std::to_string(ClipTokenizer::kClipMerges) + " merges fit CLIP's id layout, not " +
                std::to_string(options.max_merges));
  }
  PairCounts pairs(texts);
  std::vector<std::string> merges;
  uint64_t key = 0;
  while (merges.size() < options.max_merges && pairs.best(std::max<uint64_t>(options.min_pair_count, 1), key)) {
    merges.push_back(pairs.merge(key));
  }
  return merges;
}

std::string clip_vocabulary_file(const std::vector<std::string>& merges) {
  std::string text = "#version: 0.2\n";
  for (const auto& merge : merges) text += merge + '\n';
  z_stream stream{};
  // 16 + 15: a gzip wrapper around a full window.
  if (deflateInit2(&stream, Z_BEST_COMPRESSION, Z_DEFLATED, 16 + 15, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
    throw Error("zlib cannot start a gzip stream");
  }
  std::string out(deflateBound(&stream, uLong(text.size())), '\0');
  stream.next_in = reinterpret_cast<Bytef*>(text.data());
  stream.avail_in = uInt(text.size());
  stream.next_out = reinterpret_cast<Bytef*>(out.data());
  stream.avail_out = uInt(out.size());
  const int status = deflate(&stream, Z_FINISH);
  out.resize(stream.total_out);
  deflateEnd(&stream);
  if (status != Z_STREAM_END) throw Error("zlib could not compress the vocabulary");
  return out;
}

}  // namespace tessera::text
