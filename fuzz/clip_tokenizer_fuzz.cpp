// Arbitrary bytes through the whole CLIP tokenizer: cleaning (invalid UTF-8,
// entities, controls, normalisation), the pre-token pattern and BPE, then
// decoding. Any crash, sanitizer report or broken invariant is a finding.
#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <string_view>

#include "text/clip_tokenizer.h"

namespace {

// A small vocabulary with ASCII and multi-byte merges, some of whose ranks
// run against the order a trained BPE would give them.
const tessera::text::ClipTokenizer& tokenizer() {
  static const auto t = tessera::text::ClipTokenizer::from_merges({
      "t h",     "th e</w>", "i n",     "in g</w>",   "a n",  "an d</w>", "e r",  "e r</w>",   "o n",     "o n</w>",
      "c a",     "ca t</w>", "Ã ©",     "caf Ã©</w>", "c af", "a a",      "aa a", "aaa a</w>", "ð Ł",     "ðŁ ĺ",
      "' s</w>", "< |",      "e d</w>", "1 0</w>",    "Î ±",  "Ã ¯",      "n a",  "na Ã¯",     "v e</w>", "ve r",
  });
  return t;
}

void require(bool condition) {
  if (!condition) std::abort();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  const auto& t = tokenizer();
  const auto ids = t.encode(text);
  require(t.token_strings(ids).size() == ids.size());  // every id is a token
  require(t.encode(text) == ids);                      // the word cache changes nothing
  require(t.count_tokens(text) == ids.size() + 2);
  (void)t.decode(ids);
  const auto limited = t.tokenize(text, 16, true);
  require(limited.size() <= 16 && limited.front() == t.start_token() && limited.back() == t.end_token());
  return 0;
}
