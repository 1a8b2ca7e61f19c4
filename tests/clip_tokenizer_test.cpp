// CLIP's BPE tokenizer (text/clip_tokenizer.h). Expected ids for the real
// vocabulary were derived by hand from bpe_simple_vocab_16e6.txt: byte
// symbols are ids 0..255 (printable bytes '!'..'~' first, so 'a' is
// 'a' - '!' = 64), the same with "</w>" are +256, and the token made by the
// merge on file line L (line 1 is the header) is L + 510, that is 512 plus
// the 0-based merge index.
#include "text/clip_tokenizer.h"

#include <gtest/gtest.h>
#include <zlib.h>

#include <array>
#include <fstream>
#include <functional>
#include <nlohmann/json.hpp>
#include <optional>
#include <thread>

#include "base/error.h"
#include "test_data.h"
#include "text/text_cleanup.h"

namespace tessera::text {
namespace {
namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;

std::optional<fs::path> clip_vocab_path() {
  const auto data = testing::shared_data();
  if (!data) return std::nullopt;
  const auto path = *data / "clip" / "bpe_simple_vocab_16e6.txt.gz";
  if (!fs::exists(path)) return std::nullopt;
  return path;
}

#define REQUIRE_CLIP_VOCAB(var)                                                                  \
  TESSERA_REQUIRE_SHARED_DATA(var##_data);                                                       \
  const auto var##_path = clip_vocab_path();                                                     \
  if (!var##_path) GTEST_SKIP() << "../shared/data/clip/bpe_simple_vocab_16e6.txt.gz is absent"; \
  const ClipTokenizer& var = clip_tokenizer(*var##_path)

// Loading 48894 merges takes a moment; every test shares one tokenizer.
const ClipTokenizer& clip_tokenizer(const fs::path& path) {
  static const ClipTokenizer tokenizer = ClipTokenizer::from_bpe_gz(path.string());
  return tokenizer;
}

std::string throw_message(const std::function<void()>& f) {
  try {
    f();
  } catch (const Error& e) {
    return e.what();
  }
  ADD_FAILURE() << "no tessera::Error thrown";
  return {};
}

void write(const fs::path& path, const std::string& content) {
  std::ofstream out(path, std::ios::binary);
  out << content;
}

// CLIP's bytes_to_unicode, restated: printable Latin-1 bytes stand for
// themselves, the other 68 for U+0100.. in byte order.
std::string byte_symbol(int b) {
  const auto printable = [](int x) { return (x >= '!' && x <= '~') || (x >= 0xA1 && x <= 0xAC) || x >= 0xAE; };
  int code = b;
  if (!printable(b)) {
    code = 256;
    for (int x = 0; x < b; ++x) code += !printable(x);
  }
  std::string s;
  if (code < 0x80) {
    s.push_back(char(code));
  } else {
    s.push_back(char(0xC0 | (code >> 6)));
    s.push_back(char(0x80 | (code & 0x3F)));
  }
  return s;
}

// ---------------------------------------------------------------------------
// The real vocabulary.

TEST(ClipTokenizer, APhotoOfACat) {
  REQUIRE_CLIP_VOCAB(clip);
  // a</w> = 'a' - '!' + 256 = 320; "pho to</w>" (line 615) -> 1125;
  // "o f</w>" (line 29) -> 539; "c at</w>" (line 1858) -> 2368.
  EXPECT_EQ(clip.tokenize("a photo of a cat"), (Ids{49406, 320, 1125, 539, 320, 2368, 49407}));
  EXPECT_EQ(clip.start_token(), 49406);
  EXPECT_EQ(clip.end_token(), 49407);
  EXPECT_EQ(clip.vocab_size(), 49408u);
  EXPECT_EQ(clip.token_strings({320, 1125, 2368}), (Strings{"a</w>", "photo</w>", "cat</w>"}));
}

TEST(ClipTokenizer, AccentsAreUtf8BytesMergedByRank) {
  REQUIRE_CLIP_VOCAB(clip);
  // Pre-tokens "naïve", "café". "ï" is C3 AF, byte symbols "Ã" "¯".
  // naïve: "n a" (line 587) -> na 1097; "Ã ¯" (line 35179) -> Ã¯ 35689;
  //   "v e</w>" (line 53) -> ve</w> 563. No merge joins na + Ã¯ or Ã¯ + ve</w>.
  // café: "caf Ã©</w>" (line 14794) -> cafÃ©</w> 15304, one token.
  EXPECT_EQ(clip.encode("naïve café"), (Ids{1097, 35689, 563, 15304}));
  // NFC: "e" + U+0301 COMBINING ACUTE is the same é, so the same token.
  EXPECT_EQ(clip.encode("cafe\xCC\x81"), (Ids{15304}));
  // Upper case is lowered first: "CAFÉ" is "café".
  EXPECT_EQ(clip.encode("CAFÉ"), (Ids{15304}));
}

TEST(ClipTokenizer, CjkAndEmojiFallBackToBytes) {
  REQUIRE_CLIP_VOCAB(clip);
  // 癌 is E7 99 8C. E7 is printable "ç" (id 106 + 0xE7 - 0xAE = 163); 99 is
  // the 60th non-printable byte, "Ļ" U+013B (id 188 + 59 = 247); 8C is "Į"
  // U+012E, last so with </w> (256 + 188 + 46 = 490). No merge applies.
  EXPECT_EQ(clip.encode("癌"), (Ids{163, 247, 490}));
  // 🙂 is F0 9F 99 82 = "ð" "Ł" "Ļ" "Ĥ</w>": "ð Ł" (line 48), "ðŁ Ļ"
  // (line 968), "ðŁĻ Ĥ</w>" (line 14350) -> 14860.
  EXPECT_EQ(clip.encode("🙂"), (Ids{14860}));
}

TEST(ClipTokenizer, NumbersAreOneDigitPerToken) {
  REQUIRE_CLIP_VOCAB(clip);
  // [\p{N}] takes one digit: "2" "." "5" "cm". Digits are 2</w> = '2' - '!'
  // + 256 = 273, 5</w> = 276, ".</w>" = 269; "c m</w>" (line 3231) -> 3741.
  EXPECT_EQ(clip.encode("2.5 cm"), (Ids{273, 269, 276, 3741}));
  // "pT2N1a" lowers to "pt2n1a": pre-tokens "pt" "2" "n" "1" "a".
  // "p t</w>" (line 949) -> 1459; n</w> 333, 1</w> 272, a</w> 320.
  EXPECT_EQ(clip.encode("pT2N1a"), (Ids{1459, 273, 333, 272, 320}));
  // "tumour size: 2.5 × 1.8 cm": "tum our</w>" (line 44619) -> 45129,
  // "si ze</w>" (line 2725) -> 3235, ":</w>" 281, "×" (C3 97) is
  // "Ã" "Ĺ</w>", merged on line 15655 -> 16165, 8</w> 279.
  EXPECT_EQ(clip.encode("tumour size: 2.5 × 1.8 cm"),
            (Ids{45129, 3235, 281, 273, 269, 276, 16165, 272, 269, 279, 3741}));
}

TEST(ClipTokenizer, PunctuationRuns) {
  REQUIRE_CLIP_VOCAB(clip);
  // "(3/14)": "(" ")" and "/" are separate pre-tokens because digits split
  // the punctuation run: (</w> 263, 3</w> 274, /</w> 270, 1</w> 272,
  // 4</w> 275, )</w> 264.
  EXPECT_EQ(clip.encode("(3/14)"), (Ids{263, 274, 270, 272, 275, 264}));
  // "ER+/PR-" -> "er" "+/" "pr" "-". "e r</w>" (line 18) -> er</w> 528.
  // "+/" stays "+" (10) "/</w>" (270): the merge "+ /</w>" exists, but only
  // on line 88233, past the 48894 merges CLIP uses. "p r</w>" (line 3640)
  // -> 4150; -</w> 268.
  EXPECT_EQ(clip.encode("ER+/PR-"), (Ids{528, 10, 270, 4150, 268}));
  // "Ki-67 &lt;10%": "k i</w>" (line 2098) -> 2608, -</w> 268, 6</w> 277,
  // 7</w> 278, the entity becomes "<" (<</w> 283), 1</w> 272, 0</w> 271,
  // %</w> 260.
  EXPECT_EQ(clip.encode("Ki-67 &lt;10%"), (Ids{2608, 268, 277, 278, 283, 272, 271, 260}));
}

TEST(ClipTokenizer, ContractionsAndCurlyQuotes) {
  REQUIRE_CLIP_VOCAB(clip);
  // "it's" -> "it" "'s": "i t</w>" (line 75) -> 585, "' s</w>" (line 58)
  // -> 568. The curly apostrophe is straightened first (ftfy), and so is
  // the numeric reference &#8217; for it.
  EXPECT_EQ(clip.encode("it's"), (Ids{585, 568}));
  EXPECT_EQ(clip.encode("it\u2019s"), (Ids{585, 568}));
  EXPECT_EQ(clip.encode("HER2&#8217;s"), (Ids{899, 273, 568}));
  // “Invasive” ‘carcinoma’ -> "invasive" 'carcinoma'. "</w> 257,
  // "inva sive</w>" (line 19044) -> 19554, '</w> 262,
  // "carcin oma</w>" (line 46300) -> 46810.
  EXPECT_EQ(clip.encode("\u201cInvasive\u201d \u2018carcinoma\u2019"), (Ids{257, 19554, 257, 262, 46810, 262}));
}

TEST(ClipTokenizer, HtmlEntities) {
  REQUIRE_CLIP_VOCAB(clip);
  // &amp; -> "&": &</w> is '&' - '!' + 256 = 261.
  EXPECT_EQ(clip.encode("&amp;"), (Ids{261}));
  EXPECT_EQ(clip.encode("A &amp; B"), (Ids{320, 261, 321}));
  // ftfy unescapes until nothing changes, so three levels still give "&".
  EXPECT_EQ(clip.encode("&amp;amp;amp;"), (Ids{261}));
  // A '<' switches ftfy's unescaping off; only CLIP's two html.unescape
  // passes remain, leaving "<&amp;": pre-tokens "<&" (< = 27, &</w> 261),
  // "amp" ("am p</w>", line 5749 -> 6259), ";" (;</w> 282).
  EXPECT_EQ(clip.encode("<&amp;amp;amp;"), (Ids{27, 261, 6259, 282}));
}

TEST(ClipTokenizer, WhitespaceCaseLigaturesAndWidth) {
  REQUIRE_CLIP_VOCAB(clip);
  // Runs of whitespace collapse, ends are stripped: "lymph node".
  // "l y" (line 741) -> ly 1251, "mp h</w>" (line 4796) -> 5306,
  // "no de</w>" (line 24361) -> 24871.
  EXPECT_EQ(clip.encode("  lymph\t\n node \u00a0 "), (Ids{1251, 5306, 24871}));
  // "HER2 NEGATIVE" -> "her" "2" "negative": "h er</w>" (line 389) -> 899,
  // "neg ative</w>" (line 8359) -> 8869.
  EXPECT_EQ(clip.encode("HER2 NEGATIVE"), (Ids{899, 273, 8869}));
  // The ligature ﬁ is "fi": "fibro sis</w>" (line 35797) -> 36307.
  EXPECT_EQ(clip.encode("\uFB01brosis"), (Ids{36307}));
  // Full-width ＨＥＲ２ is "her2".
  EXPECT_EQ(clip.encode("\uFF28\uFF25\uFF32\uFF12"), (Ids{899, 273}));
  // "SUMMARY:" -> "sum mary</w>" (line 12925) -> 13435, :</w> 281.
  EXPECT_EQ(clip.encode("SUMMARY:"), (Ids{13435, 281}));
}

TEST(ClipTokenizer, SpecialTokensInTheText) {
  REQUIRE_CLIP_VOCAB(clip);
  EXPECT_EQ(clip.encode("<|endoftext|>"), (Ids{49407}));
  EXPECT_EQ(clip.encode("a<|startoftext|>"), (Ids{320, 49406}));
}

TEST(ClipTokenizer, LongTextIsTruncatedToTheContext) {
  REQUIRE_CLIP_VOCAB(clip);
  std::string text;
  for (int i = 0; i < 100; ++i) text += "cat ";
  EXPECT_EQ(clip.count_tokens(text), 102u);
  const auto ids = clip.tokenize(text);
  ASSERT_EQ(ids.size(), 77u);
  EXPECT_EQ(ids.front(), 49406);
  EXPECT_EQ(ids[75], 2368);
  EXPECT_EQ(ids.back(), 49407);
  EXPECT_EQ(clip.tokenize(text, 5), (Ids{49406, 2368, 2368, 2368, 49407}));
  const auto message = throw_message([&] { clip.tokenize(text, 77, false); });
  EXPECT_NE(message.find("102 tokens"), std::string::npos) << message;
  // Exactly at the limit is not truncated.
  EXPECT_EQ(clip.tokenize("cat cat cat", 5, false), (Ids{49406, 2368, 2368, 2368, 49407}));
}

TEST(ClipTokenizer, DecodeRoundTripsCleanedText) {
  REQUIRE_CLIP_VOCAB(clip);
  // Where every pre-token is a word between spaces, decoding gives the
  // cleaned text back with the last word's "</w>" as a trailing space.
  for (const std::string text : {"naïve café 癌 🙂 tumour size 2 cm", "  Invasive   DUCTAL carcinoma , grade 3 ",
                                 "ＨＥＲ ２ ﬁbrosis &amp; necrosis", "Ki 6 &lt; 1 %"}) {
    EXPECT_EQ(clip.decode(clip.encode(text)), clean_text(text) + " ") << text;
  }
  // Elsewhere pre-tokens get a space each, as CLIP's decode gives them.
  EXPECT_EQ(clip.decode(clip.encode("it's (3/14)")), "it 's ( 3 / 1 4 ) ");
  EXPECT_EQ(clip.decode(clip.tokenize("a cat")), "<|startoftext|>a cat <|endoftext|>");
  // The byte 0x80 alone (the 35th non-printable byte: 188 + 34) is no
  // UTF-8, so it decodes as U+FFFD.
  EXPECT_EQ(clip.decode({222}), "\uFFFD");
  EXPECT_NE(throw_message([&] { clip.decode({49408}); }).find("49408"), std::string::npos);
}

TEST(ClipTokenizer, HuggingFaceFilesGiveTheSameIds) {
  REQUIRE_CLIP_VOCAB(clip);
  testing::TempDir dir;
  // vocab.json from the loaded vocabulary, merges.txt from the file itself.
  nlohmann::json vocab = nlohmann::json::object();
  for (int32_t id = 0; id < 49408; ++id) vocab[clip.token_strings({id})[0]] = id;
  write(dir / "vocab.json", vocab.dump());
  gzFile gz = gzopen(clip_path->c_str(), "rb");
  ASSERT_NE(gz, nullptr);
  std::string text;
  std::array<char, 1 << 16> buffer;
  for (int n; (n = gzread(gz, buffer.data(), unsigned(buffer.size()))) > 0;) text.append(buffer.data(), size_t(n));
  gzclose(gz);
  std::string merges = "#version: 0.2\n";
  size_t pos = text.find('\n') + 1;
  for (int i = 0; i < 48894; ++i) {
    const size_t end = text.find('\n', pos);
    merges += text.substr(pos, end - pos + 1);
    pos = end + 1;
  }
  write(dir / "merges.txt", merges);
  const auto hf = ClipTokenizer::from_hugging_face((dir / "vocab.json").string(), (dir / "merges.txt").string());
  EXPECT_EQ(hf.vocab_size(), 49408u);
  for (const std::string t : {"a photo of a cat", "naïve café", "ER+/PR- (3/14) it's", "癌 🙂",
                              "Invasive ductal carcinoma, NST, grade 2 (tubules 3, pleomorphism 2, mitoses 1)."}) {
    EXPECT_EQ(hf.tokenize(t), clip.tokenize(t)) << t;
  }
}

TEST(ClipTokenizer, ConcurrentEncodingMatchesSequential) {
  REQUIRE_CLIP_VOCAB(clip);
  std::vector<std::string> texts;
  for (int i = 0; i < 200; ++i) {
    texts.push_back("Specimen " + std::to_string(i) + ": invasive carcinoma, Ki-67 " + std::to_string(i % 90) +
                    "%, HER2 " + (i % 3 ? "negative" : "positive (3+)"));
  }
  std::vector<Ids> expected;
  for (const auto& t : texts) expected.push_back(clip.encode(t));
  std::vector<std::thread> threads;
  std::vector<int> mismatches(4, 0);
  for (int w = 0; w < 4; ++w) {
    threads.emplace_back([&, w] {
      for (int round = 0; round < 5; ++round) {
        for (size_t i = 0; i < texts.size(); ++i) mismatches[size_t(w)] += clip.encode(texts[i]) != expected[i];
      }
    });
  }
  for (auto& t : threads) t.join();
  EXPECT_EQ(mismatches, (std::vector<int>{0, 0, 0, 0}));
}

TEST(ClipTokenizer, TokenizeAddsStartAndEnd) {
  REQUIRE_CLIP_VOCAB(clip);
  EXPECT_EQ(clip.tokenize("it's"), (Ids{49406, 585, 568, 49407}));
}

// ---------------------------------------------------------------------------
// No shared data needed.

// Merges in rank order; CLIP's layout gives them ids 512.. .
const Strings kTinyMerges = {"b c", "a b", "a a", "a b</w>", "l o", "lo w</w>"};

TEST(ClipTokenizerTiny, LowestRankFirstEveryOccurrenceLeftToRight) {
  const auto t = ClipTokenizer::from_merges(kTinyMerges);
  EXPECT_EQ(t.vocab_size(), 512u + kTinyMerges.size() + 2);
  EXPECT_EQ(t.start_token(), 518);
  EXPECT_EQ(t.end_token(), 519);
  // "abcd": pairs (a,b) rank 1 and (b,c) rank 0; rank 0 wins although it
  // is further right, and then (a,bc) has no rank: a bc d</w>.
  EXPECT_EQ(t.token_strings(t.encode("abcd")), (Strings{"a", "bc", "d</w>"}));
  EXPECT_EQ(t.encode("abcd"), (Ids{'a' - '!', 512, 'd' - '!' + 256}));
  // "ab": the last symbol is b</w>, so only "a b</w>" applies.
  EXPECT_EQ(t.token_strings(t.encode("ab")), (Strings{"ab</w>"}));
  // "aaab": (a,a) occurs overlapping at 0 and 1; merging left to right
  // takes the first, then "a b</w>" joins the rest.
  EXPECT_EQ(t.token_strings(t.encode("aaab")), (Strings{"aa", "ab</w>"}));
  EXPECT_EQ(t.encode("aaab"), (Ids{514, 515}));
  // "aaaab": both non-overlapping (a,a) pairs merge in the same pass.
  EXPECT_EQ(t.token_strings(t.encode("aaaab")), (Strings{"aa", "aa", "b</w>"}));
  EXPECT_EQ(t.token_strings(t.encode("low lo")), (Strings{"low</w>", "l", "o</w>"}));
  EXPECT_EQ(t.token_strings(t.encode("a")), (Strings{"a</w>"}));
  EXPECT_EQ(t.encode(""), Ids{});
  EXPECT_EQ(t.tokenize("ab"), (Ids{518, 515, 519}));
}

TEST(ClipTokenizerTiny, InvalidUtf8BecomesTheReplacementCharacter) {
  const auto t = ClipTokenizer::from_merges(kTinyMerges);
  // FF is no UTF-8; it reads as U+FFFD = EF BF BD: "ï" 171, "¿" 123,
  // "½</w>" 256 + 121 = 377.
  EXPECT_EQ(t.encode("\xFF"), (Ids{171, 123, 377}));
  EXPECT_EQ(t.encode("\xE2\x82"), t.encode("\uFFFD"));  // a truncated sequence is one U+FFFD
  EXPECT_EQ(t.decode(t.encode("ab\xC0\xAF")), "ab \uFFFD\uFFFD ");
}

class HuggingFaceFiles : public ::testing::Test {
 protected:
  // The 512 byte symbols at ids 100.., the merges' results at 10.., the
  // special tokens at 0 and 1: nothing like CLIP's layout, so the ids can
  // only come from vocab.json.
  void SetUp() override {
    for (int b = 0; b < 256; ++b) {
      vocab_[byte_symbol(b)] = 100 + b;
      vocab_[byte_symbol(b) + "</w>"] = 400 + b;
    }
    const Strings results = {"bc", "ab", "aa", "ab</w>", "lo", "low</w>"};
    for (size_t i = 0; i < results.size(); ++i) vocab_[results[i]] = 10 + int(i);
    vocab_["<|startoftext|>"] = 0;
    vocab_["<|endoftext|>"] = 1;
    merges_ = "#version: 0.2\n";
    for (const auto& m : kTinyMerges) merges_ += m + "\n";
  }
  ClipTokenizer load() {
    write(dir_ / "vocab.json", vocab_.dump(1));
    write(dir_ / "merges.txt", merges_);
    return ClipTokenizer::from_hugging_face(vocab_path(), merges_path());
  }
  std::string vocab_path() const { return (dir_ / "vocab.json").string(); }
  std::string merges_path() const { return (dir_ / "merges.txt").string(); }
  testing::TempDir dir_;
  nlohmann::json vocab_ = nlohmann::json::object();
  std::string merges_;
};

TEST_F(HuggingFaceFiles, IdsComeFromVocabJson) {
  const auto t = load();
  EXPECT_EQ(t.encode("abcd"), (Ids{100 + 'a', 10, 400 + 'd'}));
  EXPECT_EQ(t.encode("aaab"), (Ids{12, 13}));
  EXPECT_EQ(t.tokenize("low"), (Ids{0, 15, 1}));
  EXPECT_EQ(t.decode(t.tokenize("low abcd")), "<|startoftext|>low abcd <|endoftext|>");
  EXPECT_EQ(t.vocab_size(), 520u);
}

TEST_F(HuggingFaceFiles, MergesWithoutVersionLineAndWithCrLf) {
  merges_.clear();
  for (const auto& m : kTinyMerges) merges_ += m + "\r\n";
  merges_ += "\n\n";
  EXPECT_EQ(load().encode("abcd"), (Ids{100 + 'a', 10, 400 + 'd'}));
}

TEST_F(HuggingFaceFiles, ErrorsNameTheFileAndLine) {
  auto t = [&] { load(); };
  merges_ = "#version: 0.2\nb c\na b c\n";
  auto m = throw_message(t);
  EXPECT_NE(m.find(merges_path() + ":3:"), std::string::npos) << m;
  EXPECT_NE(m.find("two symbols"), std::string::npos) << m;

  merges_ = "#version: 0.2\nb c\na b\nc d\n";
  m = throw_message(t);
  EXPECT_NE(m.find(merges_path() + ":4:"), std::string::npos) << m;
  EXPECT_NE(m.find("\"cd\" is not in " + vocab_path()), std::string::npos) << m;

  SetUp();
  vocab_.erase("<|endoftext|>");
  m = throw_message(t);
  EXPECT_NE(m.find(vocab_path()), std::string::npos) << m;
  EXPECT_NE(m.find("<|endoftext|>"), std::string::npos) << m;

  SetUp();
  vocab_["zz"] = "seven";
  m = throw_message(t);
  EXPECT_NE(m.find(vocab_path() + ":"), std::string::npos) << m;
  EXPECT_NE(m.find("\"zz\""), std::string::npos) << m;

  write(dir_ / "vocab.json", "{\n  \"a\": 1,\n  \"b\" 2\n}\n");
  m = throw_message([&] { ClipTokenizer::from_hugging_face(vocab_path(), merges_path()); });
  EXPECT_NE(m.find(vocab_path()), std::string::npos) << m;
  EXPECT_NE(m.find("line 3"), std::string::npos) << m;

  m = throw_message([&] { ClipTokenizer::from_hugging_face((dir_ / "none.json").string(), merges_path()); });
  EXPECT_NE(m.find((dir_ / "none.json").string() + ": cannot open"), std::string::npos) << m;
}

TEST(ClipTokenizerTiny, BpeFileErrorsNameTheFileAndLine) {
  testing::TempDir dir;
  const auto missing = (dir / "missing.txt.gz").string();
  auto m = throw_message([&] { ClipTokenizer::from_bpe_gz(missing); });
  EXPECT_NE(m.find(missing + ": cannot open"), std::string::npos) << m;

  const auto corrupt = (dir / "corrupt.txt.gz").string();
  write(corrupt, std::string("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03garbage that is not deflate", 37));
  m = throw_message([&] { ClipTokenizer::from_bpe_gz(corrupt); });
  EXPECT_NE(m.find(corrupt + ": not a readable gzip file"), std::string::npos) << m;

  // zlib reads an uncompressed file as it is, so plain text serves here.
  const auto empty = (dir / "empty.txt").string();
  write(empty, "\n");
  m = throw_message([&] { ClipTokenizer::from_bpe_gz(empty); });
  EXPECT_NE(m.find(empty + ": empty, expected a header line"), std::string::npos) << m;

  std::string lines = "#version: 0.2\n";
  for (int i = 0; i < 48894; ++i) lines += i == 3 ? "abc\n" : "i n\n";
  const auto bad_line = (dir / "bad.txt").string();
  write(bad_line, lines);
  m = throw_message([&] { ClipTokenizer::from_bpe_gz(bad_line); });
  EXPECT_NE(m.find(bad_line + ":5: expected a merge of two symbols"), std::string::npos) << m;
}

TEST(ClipTokenizerTiny, AShortVocabularyFileHasItsSpecialTokensAfterItsMerges) {
  testing::TempDir dir;
  const auto short_file = (dir / "short.txt").string();
  write(short_file, "#version: 0.2\ni n</w>\nt h\n\n");
  const auto t = ClipTokenizer::from_bpe_gz(short_file);
  EXPECT_EQ(t.merges(), (std::vector<std::string>{"i n</w>", "t h"}));
  EXPECT_EQ(t.start_token(), 514);
  EXPECT_EQ(t.end_token(), 515);
  EXPECT_EQ(t.vocab_size(), 516u);
  EXPECT_EQ(t.tokenize("in"), (Ids{514, 512, 515}));
}

TEST(ClipTokenizerTiny, PreTokensAndByteSymbolsAreWhatBpeMerges) {
  EXPECT_EQ(ClipTokenizer::pre_tokens("Grade  II, T2N0!"),
            (std::vector<std::string>{"grade", "ii", ",", "t", "2", "n", "0", "!"}));
  EXPECT_EQ(ClipTokenizer::byte_symbols("ab"), (std::vector<std::string>{"a", "b</w>"}));
  // A space byte is not printable in CLIP's map: it stands for U+0120.
  EXPECT_EQ(ClipTokenizer::byte_symbols(" "), (std::vector<std::string>{"\xc4\xa0</w>"}));
  EXPECT_TRUE(ClipTokenizer::is_special_token("<|endoftext|>"));
  EXPECT_FALSE(ClipTokenizer::is_special_token("endoftext"));
}

TEST(ClipTokenizerTiny, ContextLimits) {
  const auto t = ClipTokenizer::from_merges(kTinyMerges);
  EXPECT_EQ(t.tokenize("a a a", 3), (Ids{518, 'a' - '!' + 256, 519}));
  EXPECT_EQ(t.tokenize("a a a", 1), (Ids{519}));
  EXPECT_THROW(t.tokenize("a", 0), Error);
  EXPECT_EQ(t.count_tokens("a a a"), 5u);
}

// ---------------------------------------------------------------------------
// The cleaning CLIP applies before splitting (text/text_cleanup.h).

TEST(TextCleanup, WhatCleaningDoes) {
  EXPECT_EQ(clean_text("  Tumour\u00a0SIZE:\t2.5\r\ncm  "), "tumour size: 2.5 cm");
  EXPECT_EQ(clean_text("\uFB01brosis \uFB02at"), "fibrosis flat");                // ligatures
  EXPECT_EQ(clean_text("\uFF28\uFF25\uFF32\uFF12\u3000+"), "her2 +");             // full width
  EXPECT_EQ(clean_text("\u201cpT2\u201d \u2018N0\u2019"), "\"pt2\" 'n0'");        // curly quotes
  EXPECT_EQ(clean_text("a\x01\x7f\u200b\uFEFFb"), "a\u200bb");                    // controls go, ZWSP stays
  EXPECT_EQ(clean_text("\x1b[31mred\x1b[0m"), "red");                             // terminal escapes
  EXPECT_EQ(clean_text("\xC2\x93quoted\xC2\x94 \xC2\x85"), "\"quoted\" \u2026");  // C1 as Windows-1252
  EXPECT_EQ(clean_text("&EACUTE;T&Eacute; &amp;amp;amp; &#x2019;"), "\u00e9t\u00e9 & '");
  EXPECT_EQ(clean_text("<b>&rsquo;</b>"), "<b>\u2019</b>");                 // no ftfy unescape once '<' is seen
  EXPECT_EQ(clean_text("&notit; &#128; &#0;"), "\u00acit; \u20ac \uFFFD");  // html.unescape rules
  EXPECT_EQ(clean_text("\u0130STANBUL \u039F\u0394\u039F\u03A3 \u03A3"),
            "i\u0307stanbul \u03bf\u03b4\u03bf\u03c2 \u03c3");
  EXPECT_EQ(clean_text("caf\xC3\x83\xC2\xA9"), "caf\u00e3\u00a9");  // mojibake is not repaired
}

}  // namespace
}  // namespace tessera::text
