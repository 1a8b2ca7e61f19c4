// `tessera tokenize`: CLIP token ids of texts, as lines or JSON.
#include <gtest/gtest.h>

#include <nlohmann/json.hpp>

#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using Ids = std::vector<int32_t>;
using Strings = std::vector<std::string>;

TEST(TokenizeCommand, PrintsIdsAsLinesOrJson) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const fs::path vocab = data / "clip" / "bpe_simple_vocab_16e6.txt.gz";
  if (!fs::exists(vocab)) GTEST_SKIP() << vocab << " is absent";
  auto r = testing::run_tessera({"tokenize", "a photo of a cat", "it's", "--clip-vocab", vocab.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_EQ(r.output, "49406 320 1125 539 320 2368 49407\n49406 585 568 49407\n");
  r = testing::run_tessera({"tokenize", "cat cat cat cat", "--context", "4", "--json"},
                           {"TESSERA_CLIP_VOCAB=" + vocab.string()});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  const auto j = nlohmann::json::parse(r.output);
  ASSERT_EQ(j.size(), 1u);
  EXPECT_EQ(j[0]["text"], "cat cat cat cat");
  EXPECT_EQ(j[0]["ids"], (Ids{49406, 2368, 2368, 49407}));
  EXPECT_EQ(j[0]["tokens"], (Strings{"<|startoftext|>", "cat</w>", "cat</w>", "<|endoftext|>"}));
}

TEST(TokenizeCommand, NeedsAVocabulary) {
  const auto r = testing::run_tessera({"tokenize", "a cat"}, {"TESSERA_CLIP_VOCAB="});
  EXPECT_EQ(r.exit_code, 1) << r.output;
  EXPECT_NE(r.output.find("bpe_simple_vocab_16e6.txt.gz"), std::string::npos) << r.output;
  EXPECT_NE(r.output.find("TESSERA_CLIP_VOCAB"), std::string::npos) << r.output;
}

}  // namespace
}  // namespace tessera
