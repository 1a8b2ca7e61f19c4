#pragma once

// Learning a byte-level BPE vocabulary in CLIP's format from a corpus, for
// when CLIP's own file is not at hand: a vocabulary that ClipTokenizer
// reads like CLIP's and that tokenises the corpus's words whole.

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

namespace tessera::text {

struct BpeLearning {
  // Stop after this many merges. Default: 4096, more than a cohort's report
  // vocabulary needs to keep every word it repeats whole.
  size_t max_merges = 4096;
  // Stop when no pair of symbols occurs this often. Default: 2, so a merge is
  // never learned for a single occurrence.
  uint64_t min_pair_count = 2;
};

// The standard BPE procedure over `texts`: each text is split into pieces as
// ClipTokenizer splits it, each piece into its byte symbols; then, again and
// again, the most frequent adjacent pair of symbols over all pieces becomes
// one symbol everywhere it occurs (left to right) and is recorded as the next
// merge "a b". Ties go to the pair whose symbols sort first, so a corpus
// always gives the same merges. Special tokens are not learned from.
std::vector<std::string> learn_bpe_merges(const std::vector<std::string>& texts, const BpeLearning& options = {});

// `merges` as CLIP ships its vocabulary: gzip of a "#version: 0.2" line
// followed by one merge per line.
std::string clip_vocabulary_file(const std::vector<std::string>& merges);

}  // namespace tessera::text
