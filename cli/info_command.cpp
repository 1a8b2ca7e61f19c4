#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "store/store.h"

namespace tessera::cli {
namespace {

// The stable JSON of one slide (schemas/slide-record.schema.json): the stored
// record's own fields, plus `mpp` as the one resolution most callers want.
nlohmann::json slide_json(const store::SlideRecord& r) {
  auto j = nlohmann::json::parse(store::encode_slide_record(r));
  j["mpp"] = r.mpp_x;
  return j;
}

std::string rejected_text(const store::SlideRecord& r) {
  std::string text;
  for (const auto& [rule, count] : r.rejected) {
    if (!text.empty()) text += ' ';
    text += rule + "=" + std::to_string(count);
  }
  return text;
}

}  // namespace

void add_info_command(CLI::App& app, int& exit_code) {
  struct Flags {
    std::string store;
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto* cmd = app.add_subcommand("info", "Show the slides in a store (works while an ingest is running)");
  cmd->add_option("--store", flags->store, "Store directory")->required();
  cmd->add_flag("--json", flags->json, "Machine-readable output with stable field names");
  cmd->callback([flags, &exit_code] {
    store::StoreOptions options;
    options.read_only = true;
    const auto store = store::Store::open(flags->store, options);
    const auto slides = store->slides();
    const auto prompts = store->prompts();
    const auto vocabulary = store->vocabulary();
    // Latents per first-stage model, embeddings per text encoder: key counts.
    nlohmann::json models = nlohmann::json::array();
    for (const auto& m : store->models()) {
      auto j = nlohmann::json::parse(store::encode_model_record(m));
      if (m.role == "first_stage") j["latents"] = store->count_latents(m.id);
      if (m.role == "cond_stage") j["embeddings"] = store->embedded_prompt_ids(m.id).size();
      if (m.role == "feature_extractor") j["features"] = store->count_features(m.id);
      models.push_back(j);
    }
    size_t complete = 0, failed = 0, pending = 0;
    int64_t tiles = 0;
    for (const auto& s : slides) {
      complete += s.status == store::SlideStatus::kComplete;
      failed += s.status == store::SlideStatus::kFailed;
      pending += s.status == store::SlideStatus::kPending;
      tiles += s.status == store::SlideStatus::kComplete ? s.tiles_kept : 0;
    }
    if (flags->json) {
      nlohmann::json out = {{"store", flags->store}, {"schema_version", store::kSchemaVersion}};
      out["slides"] = nlohmann::json::array();
      for (const auto& s : slides) out["slides"].push_back(slide_json(s));
      out["prompts"] = nlohmann::json::array();
      for (const auto& p : prompts) {
        auto j = nlohmann::json::parse(store::encode_prompt_record(p));
        j["sources"] = nlohmann::json::array();
        for (const auto& source : p.sources) {
          auto s = nlohmann::json::parse(store::encode_prompt_source(source));
          s.erase("fields");  // `tessera report` shows the fields with their spans
          j["sources"].push_back(s);
        }
        out["prompts"].push_back(j);
      }
      out["vocabulary"] =
          vocabulary ? nlohmann::json::parse(store::encode_vocabulary_record(*vocabulary)) : nlohmann::json(nullptr);
      out["models"] = models;
      out["totals"] = {{"slides", slides.size()}, {"prompts", prompts.size()}, {"complete", complete},
                       {"failed", failed},        {"pending", pending},        {"tiles", tiles}};
      std::cout << out.dump(2) << '\n';
    } else {
      std::printf("store %s (schema %d): %zu slides, %zu complete, %zu failed, %zu pending; %lld tiles\n",
                  flags->store.c_str(), store::kSchemaVersion, slides.size(), complete, failed, pending,
                  (long long)tiles);
      for (const auto& s : slides) {
        std::printf("%-40s %-8s", s.id.c_str(), store::to_string(s.status));
        if (s.status == store::SlideStatus::kFailed) {
          std::printf(" %s\n", s.error.c_str());
          continue;
        }
        const std::string decoded = s.decode_scale > 1 ? " (decoded at 1/" + std::to_string(s.decode_scale) + ")" : "";
        std::printf(" %.4f um/px (%s) level %d x%.3g%s -> %.4f um/px, %lld/%lld tiles kept; rejected %s", s.mpp_x,
                    s.mpp_source.c_str(), s.level, s.level_downsample * s.decode_scale * s.resample, decoded.c_str(),
                    s.tile_mpp, (long long)s.tiles_kept, (long long)s.tiles_total, rejected_text(s).c_str());
        if (!s.case_id.empty() || s.prompts > 0) {
          std::printf("; case %s, %s, %lld prompts", s.case_id.empty() ? "-" : s.case_id.c_str(),
                      s.report_origin.empty() ? "no report" : ("report " + s.report_origin).c_str(),
                      (long long)s.prompts);
        }
        std::printf("\n");
      }
      for (const auto& m : models) {
        const char* held = m.contains("latents") ? "latents" : m.contains("features") ? "features" : "embeddings";
        const std::string text_vocabulary = m.value("vocabulary", "");
        std::printf("model %s %-11s %-4s %lld %s%s\n", m["id"].get<std::string>().c_str(),
                    m["role"].get<std::string>().c_str(), m["architecture"].get<std::string>().c_str(),
                    (long long)m[held].get<int64_t>(), held,
                    text_vocabulary.empty() ? "" : (", vocabulary " + text_vocabulary).c_str());
      }
      if (!prompts.empty()) {
        std::printf("%zu distinct prompts, tokenised with %s:\n", prompts.size(),
                    vocabulary ? store::describe(*vocabulary).c_str() : "CLIP's (recorded before vocabularies were)");
      }
      for (const auto& p : prompts) {
        std::printf("  %s %2zu tokens  %s\n", p.id.substr(0, 12).c_str(), p.token_ids.size(), p.text.c_str());
      }
    }
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
