#include "runtime/vocabulary.h"

#include <filesystem>

#include "base/error.h"
#include "config/content_hash.h"

namespace tessera::runtime {
namespace {

// vocabulary_fingerprint of OpenAI CLIP's bpe_simple_vocab_16e6.txt.gz, the
// vocabulary of every CLIP, Stable Diffusion and PathLDM text encoder.
constexpr const char* kClipFingerprint = "59bd60877c9ba59767f93e48a1c1eb82";

}  // namespace

std::string vocabulary_fingerprint(const std::vector<std::string>& merges) {
  config::ContentHash hash;
  hash.text("bpe merges");
  hash.u64(merges.size());
  for (const auto& merge : merges) hash.text(merge);
  return hash.hex();
}

Vocabulary load_vocabulary(const std::string& path) {
  Vocabulary vocabulary{text::ClipTokenizer::from_bpe_gz(path), {}};
  const auto merges = vocabulary.tokenizer.merges();
  auto& r = vocabulary.record;
  r.fingerprint = vocabulary_fingerprint(merges);
  // Absolute: a run's record is read from anywhere.
  r.path = std::filesystem::absolute(path).string();
  r.is_clip = r.fingerprint == kClipFingerprint;
  r.merges = merges.size();
  r.start_token = vocabulary.tokenizer.start_token();
  r.end_token = vocabulary.tokenizer.end_token();
  return vocabulary;
}

void claim_store_vocabulary(store::Store& store, const store::VocabularyRecord& vocabulary) {
  const auto stored = store.vocabulary();
  if (stored && stored->fingerprint == vocabulary.fingerprint) return;
  const bool clip_before_records = !stored && vocabulary.is_clip;
  if (!clip_before_records && !store.prompts().empty()) {
    const std::string held =
        stored ? describe(*stored) : "CLIP's bpe_simple_vocab_16e6 (made before vocabularies were recorded)";
    throw Error("store " + store.dir().string() + " holds prompts tokenised with " + held + ", and this run's is " +
                describe(vocabulary) +
                ". A store keeps the prompts of one vocabulary, since token ids of one mean other words in another: "
                "pass the store's vocabulary, or ingest into a new store");
  }
  store.put_vocabulary(vocabulary);
}

void require_embedded_with(const store::ModelRecord& text, const std::optional<store::VocabularyRecord>& prompts,
                           const std::string& where) {
  if (!prompts || (text.vocabulary.empty() && prompts->is_clip)) return;
  require_vocabulary(text.vocabulary, "text model " + text.id, prompts->fingerprint, "the prompts of " + where);
}

void require_vocabulary(const std::string& expected, const std::string& owner, const std::string& used,
                        const std::string& user) {
  if (expected == used) return;
  throw Error(user + " " + (used.empty() ? "has no recorded vocabulary" : "uses vocabulary " + used) + ", but " +
              owner + " " + (expected.empty() ? "records none" : "was made with vocabulary " + expected) +
              ": token ids of one vocabulary mean other words in another. Use the vocabulary " + owner +
              " names, or tokenise and embed everything again with one vocabulary");
}

}  // namespace tessera::runtime
