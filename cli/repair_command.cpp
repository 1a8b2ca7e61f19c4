#include <CLI/CLI.hpp>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "store/store.h"

namespace tessera::cli {
namespace {

nlohmann::json counts_json(const store::StoreCounts& c) {
  return {{"slides", c.slides},   {"complete_slides", c.complete_slides}, {"tiles", c.tiles},
          {"latents", c.latents}, {"embeddings", c.embeddings},           {"prompts", c.prompts}};
}

std::string counts_text(const store::StoreCounts& c) {
  return std::to_string(c.slides) + " slides (" + std::to_string(c.complete_slides) + " complete), " +
         std::to_string(c.tiles) + " tiles, " + std::to_string(c.latents) + " latents, " +
         std::to_string(c.embeddings) + " embeddings, " + std::to_string(c.prompts) + " prompts";
}

}  // namespace

void add_repair_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string store;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand(
      "repair",
      "Recover a store whose write-ahead log is damaged to its last consistent point; report what is dropped");
  cmd->add_option("--store", flags->store, "Store directory")->required()->check(CLI::ExistingDirectory);
  cmd->add_flag("--json", flags->json, "Print what was found and dropped as JSON on stdout");
  cmd->callback([flags, &exit_code] {
    const auto r = store::Store::repair(flags->store);
    if (flags->json) {
      nlohmann::json rolled_back = nlohmann::json::array();
      for (const auto& s : r.slides_rolled_back) {
        rolled_back.push_back({{"id", s.id}, {"before", s.before}, {"after", s.after}});
      }
      std::cout << nlohmann::json{{"store", flags->store},
                                  {"log_damaged", r.log_damaged},
                                  {"before", r.before ? counts_json(*r.before) : nlohmann::json()},
                                  {"after", counts_json(r.after)},
                                  {"slides_rolled_back", rolled_back}}
                       .dump(2)
                << '\n';
    }
    if (!r.log_damaged) {
      std::cerr << "repair: the write-ahead log of store " << flags->store << " is whole; nothing changed ("
                << counts_text(r.after) << ")\n";
    } else {
      std::cerr << "repair: store " << flags->store << " recovered to its last consistent point\n"
                << "  readable before: "
                << (r.before ? counts_text(*r.before) : "unknown: the log cannot be read past the damage") << "\n"
                << "  kept:            " << counts_text(r.after) << "\n";
      for (const auto& s : r.slides_rolled_back) {
        std::cerr << "  slide " << s.id << ": " << s.before << " -> " << s.after << "\n";
      }
      std::cerr << "  run the ingest (and encode) again: it redoes every slide that is not complete\n";
    }
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
