#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "commands.h"
#include "store/store.h"

namespace tessera::cli {

void add_gc_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string store;
    std::vector<std::string> keep;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "gc",
      "Remove the latents, embeddings and features of every model not kept, and prompts no tile uses; then compact");
  cmd->add_option("--store", flags->store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_option("--keep", flags->keep, "Model ids whose latents, embeddings or features stay")->required();
  cmd->add_flag("--json", flags->json, "Print what was removed as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    auto store = store::Store::open(flags->store);
    for (const auto& id : flags->keep) {
      if (!store->model(id)) throw tessera::Error("--keep " + id + ": no such model in store " + flags->store);
    }
    const auto r = store->gc(flags->keep);
    if (flags->json) {
      std::cout << nlohmann::json{{"removed_models", r.removed_models},
                                  {"latents_removed", r.latents_removed},
                                  {"embeddings_removed", r.embeddings_removed},
                                  {"features_removed", r.features_removed},
                                  {"prompts_removed", r.prompts_removed}}
                       .dump(2)
                << '\n';
    }
    std::cerr << "gc: removed " << r.removed_models.size() << " models (" << r.latents_removed << " latents, "
              << r.embeddings_removed << " embeddings, " << r.features_removed << " features) and " << r.prompts_removed
              << " unused prompts\n";
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
