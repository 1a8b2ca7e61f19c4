#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "pipeline/merge.h"
#include "pipeline/progress.h"
#include "run_flags.h"

namespace tessera::cli {
namespace {

nlohmann::json summary_json(const pipeline::MergeSummary& summary) {
  const auto& r = summary.result;
  nlohmann::json files = nlohmann::json::array();
  for (const auto& f : r.files) {
    files.push_back({{"column_family", f.column_family},
                     {"file", f.name},
                     {"level", f.level},
                     {"bytes", f.bytes},
                     {"entries", f.entries}});
  }
  return {{"shards", r.shards},
          {"slides_added", r.slides_added},
          {"slides_present", r.slides_present},
          {"tiles_added", r.tiles_added},
          {"latents_added", r.latents_added},
          {"latents_present", r.latents_present},
          {"features_added", r.features_added},
          {"prompts_added", r.prompts_added},
          {"embeddings_added", r.embeddings_added},
          {"models_added", r.models_added},
          {"vocabulary_added", r.vocabulary_added},
          {"files", files},
          {"entries", r.entries},
          {"bytes", r.bytes},
          {"bytes_read", r.bytes_read},
          {"hard_linked", r.hard_linked},
          {"seconds", summary.seconds}};
}

}  // namespace

void add_merge_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::MergeOptions options;
    std::string progress = "auto";
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "merge", "Merge shard stores (from ingest or encode --shard) into one store, atomically; a rerun is a no-op");
  auto& o = flags->options;
  cmd->add_option("--into", o.into, "The store to merge into (created if absent; may hold slides already)")->required();
  cmd->add_option("shards", o.shards, "Shard stores")->required()->check(CLI::ExistingDirectory);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print what was merged as JSON on stdout, with stable field names");
  cmd->callback([flags, &exit_code] {
    flags->options.progress = pipeline::parse_progress_display(flags->progress);
    const auto summary = pipeline::run_merge(flags->options);
    const auto& r = summary.result;
    if (flags->json) std::cout << summary_json(summary).dump(2) << std::endl;
    std::cerr << "merge: " << r.shards.size() << " shards: " << r.slides_added << " slides (" << r.tiles_added
              << " tiles), " << r.latents_added << " latents, " << r.features_added << " features, " << r.prompts_added
              << " prompts, " << r.embeddings_added << " embeddings, " << r.models_added.size() << " models added; "
              << r.slides_present << " slides were present already, in " << pipeline::format_duration(summary.seconds)
              << '\n';
    for (const auto& f : r.files) {
      std::cerr << "  " << f.column_family << ": " << f.name << ", " << f.entries << " entries, " << f.bytes
                << " bytes, " << (r.hard_linked ? "linked" : "copied") << " to level " << f.level << '\n';
    }
    if (r.files.empty()) std::cerr << "merge: nothing new; " << flags->options.into.string() << " is unchanged\n";
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
