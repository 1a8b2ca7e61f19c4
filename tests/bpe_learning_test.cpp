#include "text/bpe_learning.h"

#include <gtest/gtest.h>

#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"
#include "test_data.h"
#include "text/clip_tokenizer.h"

namespace tessera::text {
namespace {

using Strings = std::vector<std::string>;

TEST(BpeLearning, MergesTheMostFrequentPairFirstAndBreaksTiesByTheSymbols) {
  // Pairs: (l,o) 4; then (lo,w</w>) 3 ties (w,e) 3 and "lo" sorts first.
  const auto merges = learn_bpe_merges({"low low low lower", "newest newest"}, {3, 2});
  EXPECT_EQ(merges, (Strings{"l o", "lo w</w>", "w e"}));
}

TEST(BpeLearning, StopsWhenNoPairIsFrequentEnough) {
  EXPECT_EQ(learn_bpe_merges({"ab"}, {100, 2}), Strings{});
  EXPECT_EQ(learn_bpe_merges({"ab"}, {100, 1}), (Strings{"a b</w>"}));
  EXPECT_EQ(learn_bpe_merges({"abab abab"}, {100, 2}), (Strings{"a b", "a b</w>", "ab ab</w>"}));
  EXPECT_EQ(learn_bpe_merges({}, {}), Strings{});
}

TEST(BpeLearning, SpecialTokensAndPunctuationSplitAsTheTokenizerSplits) {
  // "<|endoftext|>" is never learned from; "t2n0" splits into letters and digits.
  const auto merges = learn_bpe_merges({"<|endoftext|> <|endoftext|> t2n0 t2n0"}, {100, 2});
  EXPECT_EQ(merges, Strings{});
}

TEST(BpeLearning, TheLearnedVocabularyTokenisesItsFrequentWordsWhole) {
  const std::string report = "Invasive ductal carcinoma, grade 2. Lymph nodes negative for carcinoma (0/12).";
  const auto merges = learn_bpe_merges({report, report, "invasive lobular carcinoma"});
  const auto tokenizer = ClipTokenizer::from_merges(merges);
  for (const std::string word : {"invasive", "carcinoma", "lymph", "negative"}) {
    EXPECT_EQ(tokenizer.encode(word).size(), 1u) << word;
    EXPECT_EQ(tokenizer.decode(tokenizer.encode(word)), word + " ");
  }
  EXPECT_EQ(tokenizer.start_token(), int32_t(512 + merges.size()));
  EXPECT_EQ(tokenizer.end_token(), int32_t(513 + merges.size()));
  // Words it never saw still tokenise, byte by byte at worst.
  EXPECT_EQ(tokenizer.decode(tokenizer.encode("zygote")), "zygote ");
}

TEST(BpeLearning, TheFileIsReadBackAsCLIPsFormat) {
  testing::TempDir dir;
  const auto merges = learn_bpe_merges({"tumor stroma tumor stroma lymphocytes lymphocytes"});
  ASSERT_GT(merges.size(), 5u);
  const auto path = dir / "vocab.txt.gz";
  const std::string file = clip_vocabulary_file(merges);
  ASSERT_GE(file.size(), 2u);
  EXPECT_EQ(uint8_t(file[0]), 0x1f);  // gzip's magic
  EXPECT_EQ(uint8_t(file[1]), 0x8b);
  write_file(path, file);
  const auto read = ClipTokenizer::from_bpe_gz(path.string());
  EXPECT_EQ(read.merges(), merges);
  EXPECT_EQ(read.tokenize("tumor stroma"), ClipTokenizer::from_merges(merges).tokenize("tumor stroma"));
  EXPECT_EQ(read.tokenize("tumor stroma").size(), 4u);
  // The same corpus gives the same bytes.
  EXPECT_EQ(clip_vocabulary_file(learn_bpe_merges({"tumor stroma tumor stroma lymphocytes lymphocytes"})), file);
}

TEST(BpeLearning, MoreMergesThanClipsLayoutHoldsAreRefused) {
  EXPECT_THROW(learn_bpe_merges({"a"}, {ClipTokenizer::kClipMerges + 1, 2}), Error);
}

}  // namespace
}  // namespace tessera::text
