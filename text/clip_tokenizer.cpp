#include "text/clip_tokenizer.h"

#include <re2/re2.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <cstring>
#include <fstream>
#include <mutex>
#include <nlohmann/json.hpp>
#include <sstream>
#include <unordered_map>
#include <utility>

#include "base/error.h"
#include "text/text_cleanup.h"
#include "utf8.h"

namespace tessera::text {
namespace {

constexpr std::string_view kStartText = "<|startoftext|>";
constexpr std::string_view kEndText = "<|endoftext|>";
constexpr std::string_view kEndOfWord = "</w>";
// Ids index a table; Hugging Face ids beyond this are taken for a broken
// file, not a vocabulary (CLIP's largest is 49407).
constexpr int64_t kMaxId = int64_t{1} << 21;

// CLIP's bytes_to_unicode: the 188 printable Latin-1 bytes stand for
// themselves, the other 68 for U+0100.. in byte order. CLIP's vocabulary lists
// the symbols by code point, that is the printable bytes first.
struct ByteMap {
  std::array<char32_t, 256> to_char{};
  std::array<uint8_t, 256> vocabulary_order{};
  std::array<int16_t, 256 + 68> to_byte{};
};

const ByteMap& byte_map() {
  static const ByteMap map = [] {
    ByteMap m;
    const auto printable = [](int b) { return (b >= '!' && b <= '~') || (b >= 0xA1 && b <= 0xAC) || b >= 0xAE; };
    size_t next = 0;
    for (int b = 0; b < 256; ++b) {
      if (printable(b)) {
        m.to_char[b] = char32_t(b);
        m.vocabulary_order[next++] = uint8_t(b);
      }
    }
    char32_t extra = 256;
    for (int b = 0; b < 256; ++b) {
      if (!printable(b)) {
        m.to_char[b] = extra++;
        m.vocabulary_order[next++] = uint8_t(b);
      }
    }
    m.to_byte.fill(-1);
    for (int b = 0; b < 256; ++b) m.to_byte[m.to_char[b]] = int16_t(b);
    return m;
  }();
  return map;
}

std::string byte_symbol(uint8_t b) {
  std::string s;
  append_utf8(s, byte_map().to_char[b]);
  return s;
}

// CLIP's pre-tokenising pattern, matched case-insensitively by Python's
// regex module. Only the literal alternatives are folded here: folding the
// classes would let \p{L} take U+0345, which folds to a letter, where
// Python's regex matches it with no alternative at all (it is skipped). The
// \s is spelt out as Python's whitespace (RE2's \s is ASCII only); after
// cleaning only ' ' can occur anyway.
const RE2& pre_token_pattern() {
  static const RE2 pattern(
      R"(((?i:<\|startoftext\|>|<\|endoftext\|>|'s|'t|'re|'ve|'m|'ll|'d)|\p{L}+|\p{N}|)"
      R"([^\t\n\x{0B}\f\r\x{1C}-\x{20}\x{85}\x{A0}\x{1680}\x{2000}-\x{200A}\x{2028}\x{2029}\x{202F}\x{205F}\x{3000})"
      R"(\x{345}\p{L}\p{N}]+))");
  if (!pattern.ok()) throw Error("the RE2 in use rejects CLIP's pre-token pattern: " + pattern.error());
  return pattern;
}

struct MergeRule {
  int32_t rank;
  int32_t result;
};

uint64_t pair_key(int32_t left, int32_t right) { return uint64_t(uint32_t(left)) << 32 | uint32_t(right); }

// A merge as read, with where it was read for error messages.
struct MergeLine {
  std::string left;
  std::string right;
  std::string where;
};

bool is_ascii_space(char c) { return c == ' ' || c == '\t' || c == '\r' || c == '\v' || c == '\f'; }

// Python's line.split() for a merge line: exactly two tokens.
MergeLine parse_merge(std::string_view line, std::string where) {
  std::vector<std::string_view> parts;
  for (size_t i = 0; i < line.size();) {
    while (i < line.size() && is_ascii_space(line[i])) ++i;
    const size_t start = i;
    while (i < line.size() && !is_ascii_space(line[i])) ++i;
    if (i > start) parts.push_back(line.substr(start, i - start));
  }
  if (parts.size() != 2) {
    throw Error(where + ": expected a merge of two symbols \"a b\", found \"" + std::string(line) + "\"");
  }
  return {std::string(parts[0]), std::string(parts[1]), std::move(where)};
}

std::vector<std::string_view> split_lines(std::string_view text) {
  std::vector<std::string_view> lines;
  size_t start = 0;
  while (true) {
    const size_t end = text.find('\n', start);
    lines.push_back(text.substr(start, end == std::string_view::npos ? std::string_view::npos : end - start));
    if (end == std::string_view::npos) return lines;
    start = end + 1;
  }
}

std::string read_file(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  if (!in) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::ostringstream content;
  content << in.rdbuf();
  if (in.bad()) throw Error(path + ": read failed");
  return content.str();
}

std::string read_gzip(const std::string& path) {
  gzFile file = gzopen(path.c_str(), "rb");
  if (!file) throw Error(path + ": cannot open: " + std::strerror(errno));
  std::string out;
  std::array<char, 1 << 16> buffer;
  int status = Z_OK;
  while (true) {
    const int n = gzread(file, buffer.data(), unsigned(buffer.size()));
    if (n <= 0) {
      const char* message = gzerror(file, &status);
      if (status != Z_OK && status != Z_STREAM_END) {
        const std::string text = message ? message : "unknown error";
        gzclose(file);
        throw Error(path + ": not a readable gzip file: " + text);
      }
      break;
    }
    out.append(buffer.data(), size_t(n));
  }
  if (gzclose(file) != Z_OK) throw Error(path + ": not a readable gzip file: it ends in the middle of a stream");
  return out;
}

// The 1-based line of the first occurrence of `needle` in `text`, or 0.
size_t line_of(std::string_view text, std::string_view needle) {
  const size_t at = text.find(needle);
  if (at == std::string_view::npos) return 0;
  return size_t(std::count(text.begin(), text.begin() + std::ptrdiff_t(at), '\n')) + 1;
}

// A bounded map from pre-token to ids, split in shards so that threads
// encoding different words rarely wait for one another. A full shard is
// emptied: results never depend on what is cached.
class WordCache {
 public:
  bool find(const std::string& word, std::vector<int32_t>& ids) const {
    auto& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    const auto it = s.entries.find(word);
    if (it == s.entries.end()) return false;
    ids = it->second;
    return true;
  }

  void insert(const std::string& word, const std::vector<int32_t>& ids) const {
    if (word.size() > kMaxWordBytes) return;
    auto& s = shard(word);
    std::lock_guard<std::mutex> lock(s.mutex);
    if (s.entries.size() >= kEntriesPerShard) s.entries.clear();
    s.entries.emplace(word, ids);
  }

 private:
  static constexpr size_t kShards = 16;
  static constexpr size_t kEntriesPerShard = 4096;
  static constexpr size_t kMaxWordBytes = 256;

  struct Shard {
    std::mutex mutex;
    std::unordered_map<std::string, std::vector<int32_t>> entries;
  };

  Shard& shard(const std::string& word) const { return shards_[std::hash<std::string>{}(word) % kShards]; }

  mutable std::array<Shard, kShards> shards_;
};

}  // namespace

struct ClipTokenizer::Model {
  std::vector<std::string> tokens;  // by id; empty where no token has that id
  size_t vocab_size = 0;
  std::array<int32_t, 256> byte_ids{};      // a byte inside a word
  std::array<int32_t, 256> byte_end_ids{};  // a byte that ends a word ("</w>" appended)
  std::unordered_map<uint64_t, MergeRule> merges;
  std::vector<std::string> merge_lines;  // "a b", by rank
  int32_t start = 0;
  int32_t end = 0;
  WordCache cache;

  // `ids` maps every token to its id. With `strict`, a merge whose parts or
  // result are not tokens is an error; otherwise it is dropped, since it can
  // never apply.
  static std::shared_ptr<Model> build(const std::unordered_map<std::string, int32_t>& ids,
                                      const std::vector<MergeLine>& merge_lines, const std::string& vocab_name,
                                      bool strict);

  std::vector<int32_t> bpe(const std::string& word) const;
  const std::string& token(int32_t id) const;
};

std::shared_ptr<ClipTokenizer::Model> ClipTokenizer::Model::build(const std::unordered_map<std::string, int32_t>& ids,
                                                                  const std::vector<MergeLine>& merge_lines,
                                                                  const std::string& vocab_name, bool strict) {
  auto model = std::make_shared<Model>();
  int32_t max_id = -1;
  for (const auto& [token, id] : ids) max_id = std::max(max_id, id);
  model->tokens.resize(size_t(max_id + 1));
  for (const auto& [token, id] : ids) {
    auto& slot = model->tokens[size_t(id)];
    if (!slot.empty()) {
      throw Error(vocab_name + ": the tokens \"" + slot + "\" and \"" + token + "\" share the id " +
                  std::to_string(id));
    }
    slot = token;
  }
  model->vocab_size = ids.size();
  const auto id_of = [&](const std::string& token) {
    const auto it = ids.find(token);
    if (it == ids.end()) throw Error(vocab_name + ": the vocabulary lacks the token \"" + token + "\"");
    return it->second;
  };
  for (int b = 0; b < 256; ++b) {
    const std::string symbol = byte_symbol(uint8_t(b));
    model->byte_ids[size_t(b)] = id_of(symbol);
    model->byte_end_ids[size_t(b)] = id_of(symbol + std::string(kEndOfWord));
  }
  model->start = id_of(std::string(kStartText));
  model->end = id_of(std::string(kEndText));
  for (size_t rank = 0; rank < merge_lines.size(); ++rank) {
    const auto& m = merge_lines[rank];
    const auto left = ids.find(m.left);
    const auto right = ids.find(m.right);
    const auto result = ids.find(m.left + m.right);
    if (strict) {
      for (const auto* part : {&m.left, &m.right}) {
        if (!ids.count(*part)) throw Error(m.where + ": \"" + *part + "\" is not in " + vocab_name);
      }
      if (result == ids.end()) {
        throw Error(m.where + ": the merge result \"" + m.left + m.right + "\" is not in " + vocab_name);
      }
    }
    model->merge_lines.push_back(m.left + ' ' + m.right);
    if (left == ids.end() || right == ids.end() || result == ids.end()) continue;
    // A repeated merge takes its last rank, as CLIP's dict(zip(merges, ...)).
    model->merges.insert_or_assign(pair_key(left->second, right->second), MergeRule{int32_t(rank), result->second});
  }
  return model;
}

std::vector<int32_t> ClipTokenizer::Model::bpe(const std::string& word) const {
  if (word == kStartText) return {start};
  if (word == kEndText) return {end};
  std::vector<int32_t> symbols;
  if (cache.find(word, symbols)) return symbols;
  symbols.reserve(word.size());
  for (size_t i = 0; i < word.size(); ++i) {
    const auto b = size_t(uint8_t(word[i]));
    symbols.push_back(i + 1 < word.size() ? byte_ids[b] : byte_end_ids[b]);
  }
  // CLIP's loop: find the adjacent pair of lowest rank, merge every
  // occurrence of it from left to right, until no pair has a rank.
  std::vector<int32_t> merged;
  while (symbols.size() > 1) {
    const MergeRule* best = nullptr;
    int32_t first = 0;
    int32_t second = 0;
    for (size_t i = 0; i + 1 < symbols.size(); ++i) {
      const auto it = merges.find(pair_key(symbols[i], symbols[i + 1]));
      if (it != merges.end() && (!best || it->second.rank < best->rank)) {
        best = &it->second;
        first = symbols[i];
        second = symbols[i + 1];
      }
    }
    if (!best) break;
    merged.clear();
    for (size_t i = 0; i < symbols.size();) {
      if (i + 1 < symbols.size() && symbols[i] == first && symbols[i + 1] == second) {
        merged.push_back(best->result);
        i += 2;
      } else {
        merged.push_back(symbols[i]);
        ++i;
      }
    }
    symbols.swap(merged);
  }
  cache.insert(word, symbols);
  return symbols;
}

const std::string& ClipTokenizer::Model::token(int32_t id) const {
  if (id < 0 || size_t(id) >= tokens.size() || tokens[size_t(id)].empty()) {
    throw Error("token id " + std::to_string(id) + " is not in the vocabulary");
  }
  return tokens[size_t(id)];
}

ClipTokenizer::ClipTokenizer(std::shared_ptr<Model> model) : model_(std::move(model)) {}

namespace {

// CLIP's vocabulary list: byte symbols, the same with "</w>", one token per
// merge, the two special tokens; a token listed twice keeps its last index.
std::unordered_map<std::string, int32_t> clip_layout(const std::vector<MergeLine>& merges) {
  std::vector<std::string> vocabulary;
  vocabulary.reserve(512 + merges.size() + 2);
  for (const uint8_t b : byte_map().vocabulary_order) vocabulary.push_back(byte_symbol(b));
  for (size_t i = 0; i < 256; ++i) vocabulary.push_back(vocabulary[i] + std::string(kEndOfWord));
  for (const auto& m : merges) vocabulary.push_back(m.left + m.right);
  vocabulary.emplace_back(kStartText);
  vocabulary.emplace_back(kEndText);
  std::unordered_map<std::string, int32_t> ids;
  for (size_t i = 0; i < vocabulary.size(); ++i) ids.insert_or_assign(vocabulary[i], int32_t(i));
  return ids;
}

}  // namespace

ClipTokenizer ClipTokenizer::from_bpe_gz(const std::string& path) {
  const std::string text = read_gzip(path);
  auto lines = split_lines(text);
  while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string_view::npos) lines.pop_back();
  // Line 1 is a header of any text (CLIP's own starts with its file name);
  // the merges are the next lines, at most kClipMerges.
  if (lines.empty()) throw Error(path + ": empty, expected a header line and merges");
  const size_t count = std::min(lines.size() - 1, kClipMerges);
  std::vector<MergeLine> merges;
  merges.reserve(count);
  for (size_t i = 1; i <= count; ++i) merges.push_back(parse_merge(lines[i], path + ":" + std::to_string(i + 1)));
  return ClipTokenizer(Model::build(clip_layout(merges), merges, path, false));
}

ClipTokenizer ClipTokenizer::from_merges(const std::vector<std::string>& merge_lines) {
  std::vector<MergeLine> merges;
  merges.reserve(merge_lines.size());
  for (size_t i = 0; i < merge_lines.size(); ++i) {
    merges.push_back(parse_merge(merge_lines[i], "merge line " + std::to_string(i + 1)));
  }
  return ClipTokenizer(Model::build(clip_layout(merges), merges, "the merges", false));
}

ClipTokenizer ClipTokenizer::from_hugging_face(const std::string& vocab_json, const std::string& merges_txt) {
  const std::string vocab_text = read_file(vocab_json);
  nlohmann::json vocab;
  try {
    vocab = nlohmann::json::parse(vocab_text);
  } catch (const nlohmann::json::parse_error& e) {
    throw Error(vocab_json + ": not valid JSON: " + e.what());
  }
  if (!vocab.is_object()) throw Error(vocab_json + ":1: expected a JSON object mapping tokens to ids");
  std::unordered_map<std::string, int32_t> ids;
  ids.reserve(vocab.size());
  for (const auto& [token, id] : vocab.items()) {
    if (!id.is_number_integer() || id.get<int64_t>() < 0 || id.get<int64_t>() >= kMaxId) {
      const size_t line = line_of(vocab_text, nlohmann::json(token).dump());
      throw Error(vocab_json + ":" + (line ? std::to_string(line) + ":" : std::string()) + " the id of \"" + token +
                  "\" is " + id.dump() + ", not an integer in [0, " + std::to_string(kMaxId) + ")");
    }
    ids.emplace(token, int32_t(id.get<int64_t>()));
  }
  const std::string merges_text = read_file(merges_txt);
  auto lines = split_lines(merges_text);
  while (!lines.empty() && lines.back().find_first_not_of(" \t\r") == std::string_view::npos) lines.pop_back();
  std::vector<MergeLine> merges;
  merges.reserve(lines.size());
  for (size_t i = 0; i < lines.size(); ++i) {
    if (i == 0 && lines[i].substr(0, 8) == "#version") continue;
    merges.push_back(parse_merge(lines[i], merges_txt + ":" + std::to_string(i + 1)));
  }
  return ClipTokenizer(Model::build(ids, merges, vocab_json, true));
}

std::vector<std::string> ClipTokenizer::pre_tokens(std::string_view text) {
  const std::string cleaned = clean_text(text);
  std::vector<std::string> pieces;
  re2::StringPiece input(cleaned);
  re2::StringPiece piece;
  while (RE2::FindAndConsume(&input, pre_token_pattern(), &piece)) pieces.emplace_back(piece.data(), piece.size());
  return pieces;
}

std::vector<std::string> ClipTokenizer::byte_symbols(std::string_view piece) {
  std::vector<std::string> symbols;
  symbols.reserve(piece.size());
  for (const char c : piece) symbols.push_back(byte_symbol(uint8_t(c)));
  if (!symbols.empty()) symbols.back() += kEndOfWord;
  return symbols;
}

bool ClipTokenizer::is_special_token(std::string_view piece) { return piece == kStartText || piece == kEndText; }

std::vector<int32_t> ClipTokenizer::encode(std::string_view text) const {
  std::vector<int32_t> ids;
  for (const auto& piece : pre_tokens(text)) {
    const auto word_ids = model_->bpe(piece);
    ids.insert(ids.end(), word_ids.begin(), word_ids.end());
  }
  return ids;
}

std::vector<std::string> ClipTokenizer::token_strings(const std::vector<int32_t>& ids) const {
  std::vector<std::string> out;
  out.reserve(ids.size());
  for (const int32_t id : ids) out.push_back(model_->token(id));
  return out;
}

std::string ClipTokenizer::decode(const std::vector<int32_t>& ids) const {
  const auto& to_byte = byte_map().to_byte;
  std::string bytes;
  for (const int32_t id : ids) {
    for (const char32_t c : decode_utf8(model_->token(id))) {
      if (c < to_byte.size() && to_byte[c] >= 0) {
        bytes.push_back(char(to_byte[c]));
      } else {
        append_utf8(bytes, c);  // only a Hugging Face vocabulary can hold such a token
      }
    }
  }
  const std::string text = encode_utf8(decode_utf8(bytes));
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    if (text.compare(i, kEndOfWord.size(), kEndOfWord) == 0) {
      out.push_back(' ');
      i += kEndOfWord.size();
    } else {
      out.push_back(text[i++]);
    }
  }
  return out;
}

std::vector<int32_t> ClipTokenizer::tokenize(std::string_view text, size_t context_length, bool truncate) const {
  if (context_length == 0) throw Error("the context length must be at least 1");
  std::vector<int32_t> ids{model_->start};
  const auto body = encode(text);
  ids.insert(ids.end(), body.begin(), body.end());
  ids.push_back(model_->end);
  if (ids.size() > context_length) {
    if (!truncate) {
      throw Error("the text is " + std::to_string(ids.size()) + " tokens long, more than the context length " +
                  std::to_string(context_length));
    }
    ids.resize(context_length);
    ids.back() = model_->end;
  }
  return ids;
}

size_t ClipTokenizer::count_tokens(std::string_view text) const { return encode(text).size() + 2; }

std::vector<std::string> ClipTokenizer::merges() const { return model_->merge_lines; }

int32_t ClipTokenizer::start_token() const { return model_->start; }
int32_t ClipTokenizer::end_token() const { return model_->end; }
size_t ClipTokenizer::vocab_size() const { return model_->vocab_size; }

}  // namespace tessera::text
