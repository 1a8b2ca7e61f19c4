#include "pipeline/evaluate.h"

#include <spdlog/spdlog.h>

#include <algorithm>
#include <cmath>
#include <limits>
#include <map>
#include <nlohmann/json.hpp>

#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"
#include "evaluation_features.h"
#include "evaluation_metrics.h"
#include "evaluation_sets.h"
#include "imaging/bar_chart.h"
#include "imaging/image_grid.h"
#include "imaging/vips_runtime.h"
#include "interrupt.h"
#include "pipeline/export.h"
#include "run_clock.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

using json = nlohmann::ordered_json;

// The closest synthetic/training pairs nearest.png shows.
constexpr size_t kNearestPairs = 8;
constexpr const char* kBinFields[] = {"tumor", "til"};

void check_options(const EvaluateOptions& o) {
  if (o.synthetic.empty()) throw Error("--synthetic is required");
  if (o.real.empty() == o.real_store.empty()) throw Error("give exactly one of --real and --real-store");
  if (o.out.empty()) throw Error("--out is required");
  if (o.k < 1) throw Error("--k must be at least 1");
  if (o.batch == 0) throw Error("--batch must be at least 1");
  if (o.metrics.empty()) throw Error("--metrics names none of fid, kid and prdc");
  for (const auto& m : o.metrics) {
    if (m != "fid" && m != "kid" && m != "prdc") throw Error("--metrics: '" + m + "' is not fid, kid or prdc");
  }
  if (o.split != "val" && o.split != "train" && o.split != "all") {
    throw Error("--split '" + o.split + "' is not val, train or all");
  }
  if (!o.real.empty() && o.split != "val") throw Error("--split applies to --real-store only");
}

// The rows of `samples` whose `key` gives `value`.
std::vector<size_t> rows_where(const std::vector<EvalSample>& samples,
                               const std::function<std::string(const EvalSample&)>& key, const std::string& value) {
  std::vector<size_t> rows;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (key(samples[i]) == value) rows.push_back(i);
  }
  return rows;
}

std::string bin_of(const EvalSample& s, const std::string& field) { return field == "tumor" ? s.tumor : s.til; }

// A codec mismatch: CytoSyn found models and metrics sensitive to JPEG
// compression, so sides stored differently are not compared silently.
bool codecs_differ(const EvalSet& a, const EvalSet& b) { return a.codecs != b.codecs; }

json set_json(const EvalSet& set, size_t drawn, const std::string& split) {
  json sources = json::array();
  for (const auto& source : set.sources) sources.push_back(fs::absolute(source).string());
  json j = {{"kind", set.kind}, {"sources", sources}};
  if (!split.empty()) j["split"] = split;
  j["available"] = set.samples.size();
  j["samples"] = drawn;
  j["codecs"] = set.codecs;
  if (!set.model_ids.empty()) j["model_ids"] = set.model_ids;
  return j;
}

double metric_value(const json& group, const std::string& name) {
  if (!group.contains(name) || group[name].is_null()) return std::numeric_limits<double>::quiet_NaN();
  if (name == "kid") return group[name]["mean"].get<double>();
  return group[name].get<double>();
}

// "FID", "KID", or the name as it is.
std::string metric_title(const std::string& name) { return name == "fid" ? "FID" : name == "kid" ? "KID" : name; }

void write_metrics_png(const json& report, const std::vector<std::string>& metrics, const fs::path& path) {
  std::vector<std::string> names;
  for (const auto& m : metrics) {
    if (m == "prdc") {
      names.insert(names.end(), {"precision", "recall", "density", "coverage"});
    } else {
      names.push_back(m);
    }
  }
  std::vector<stages::BarPanel> panels;
  for (const char* field : kBinFields) {
    const auto& groups = report["by_" + std::string(field)];
    if (groups.empty()) continue;
    for (const auto& name : names) {
      stages::BarPanel panel;
      panel.title = metric_title(name) + " by " + field + " bin";
      panel.categories.push_back("all");
      panel.values.push_back(metric_value(report["overall"], name));
      for (const auto& [bin, group] : groups.items()) {
        panel.categories.push_back(bin);
        panel.values.push_back(metric_value(group, name));
      }
      panels.push_back(std::move(panel));
    }
  }
  if (panels.empty()) {
    for (const auto& name : names) {
      panels.push_back({metric_title(name), {"all"}, {metric_value(report["overall"], name)}});
    }
  }
  stages::write_bar_panels(panels, int(std::min<size_t>(names.size(), 4)), path.string());
}

void write_nearest_png(const MemorizationAudit& audit, const std::vector<EvalSample>& synthetic,
                       const std::vector<EvalSample>& train, const store::Store& store, const fs::path& path,
                       json& closest) {
  std::vector<size_t> order(synthetic.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  const size_t shown = std::min(kNearestPairs, order.size());
  std::partial_sort(order.begin(), order.begin() + long(shown), order.end(),
                    [&](size_t a, size_t b) { return audit.synthetic.distance[a] < audit.synthetic.distance[b]; });
  std::vector<stages::RgbImage> cells;
  for (size_t r = 0; r < shown; ++r) {
    const size_t i = order[r];
    const auto& nearest = train[audit.synthetic.index[i]];
    closest.push_back(
        {{"synthetic", synthetic[i].name}, {"train", nearest.name}, {"distance", audit.synthetic.distance[i]}});
    cells.push_back(load_sample(synthetic[i], nullptr));
    cells.push_back(load_sample(nearest, &store));
  }
  if (!cells.empty()) stages::save_png(stages::make_image_grid(cells, 2, 4), path.string());
}

}  // namespace

EvaluateSummary run_evaluate(const EvaluateOptions& options) {
  check_options(options);
  const RunClock clock;
  EvaluateSummary summary;
  summary.out = options.out;

  // The inputs, checked before anything is extracted.
  const EvalSet synthetic_set = samples_at(options.synthetic, "synthetic");
  std::unique_ptr<store::Store> store;
  const double val = options.val >= 0 ? options.val : ExportOptions().val;
  EvalSet real_set;
  std::vector<EvalSample> real_side;
  if (!options.real_store.empty()) {
    store = store::Store::open(options.real_store);
    real_set = store_samples(*store, val, options.split_seed);
    real_side = samples_on(real_set, options.split);
    if (real_side.empty()) {
      throw Error("store " + options.real_store.string() + " has no tile on the " + options.split +
                  " side of its split (--split " + options.split +
                  "); the split keeps whole cases apart, so a store of one case has tiles on the train side only: "
                  "--split all compares with every tile");
    }
  } else {
    real_set = samples_at(options.real, "real");
    real_side = real_set.samples;
  }
  runtime::FeatureExtractor extractor(options.extractor);
  summary.extractor_id = extractor.id();
  const FolderLock lock(options.out);
  InterruptScope interrupt;

  const auto synthetic = draw_samples(synthetic_set.samples, options.n, options.seed);
  const auto real = draw_samples(real_side, options.n, options.seed + 1);
  // The memorisation audit: training tiles against the held-out ones.
  std::vector<EvalSample> train, held_out;
  if (store) {
    train = draw_samples(samples_on(real_set, "train"), options.n, options.seed + 2);
    held_out = options.split == "val" ? real : draw_samples(samples_on(real_set, "val"), options.n, options.seed + 3);
  }

  const bool audit = !train.empty() && !held_out.empty();
  const size_t sets = 2 + (audit ? (options.split == "val" ? 1 : 2) : 0);
  const auto mode = resolve_mode(options.progress);
  Progress progress(mode, sets, std::chrono::seconds(10), {"images", "set"});
  FeatureCounts counts;
  const double features_start = clock.seconds();
  const fs::path features_dir = options.out / "features";
  const auto features_of = [&](const std::vector<EvalSample>& samples, const char* side) {
    return sample_features(extractor, samples, store.get(), features_dir / (std::string(side) + ".features"),
                           options.batch, progress, counts);
  };
  const auto synthetic_features = features_of(synthetic, "synthetic");
  const auto real_features = features_of(real, "real");
  runtime::FeatureMatrix train_features, held_out_features;
  if (audit) {
    train_features = features_of(train, "train");
    held_out_features = options.split == "val" ? real_features : features_of(held_out, "held-out");
  }
  progress.finish();
  summary.feature_seconds = clock.seconds() - features_start;
  summary.extracted = counts.extracted;
  summary.cached = counts.cached;
  summary.real = real.size();
  summary.synthetic = synthetic.size();
  if (stop_requested()) {
    summary.interrupted = true;
    summary.seconds = clock.seconds();
    return summary;
  }
  if (mode != Progress::Mode::kQuiet) {
    spdlog::info("evaluate: features of {} images ({} extracted, {} cached); computing metrics",
                 counts.extracted + counts.cached, counts.extracted, counts.cached);
  }

  json report;
  report["extractor"] = {{"id", extractor.id()},
                         {"path", extractor.path()},
                         {"preprocessing", extractor.description()},
                         {"dim", real_features.dim}};
  report["seed"] = options.seed;
  report["k"] = options.k;
  report["metrics"] = options.metrics;
  report["synthetic"] = set_json(synthetic_set, synthetic.size(), "");
  report["real"] = set_json(real_set, real.size(), store ? options.split : "");
  report["real"]["available"] = real_side.size();
  if (store) {
    report["real"]["val"] = val;
    report["real"]["split_seed"] = options.split_seed;
  }
  report["codec_mismatch"] = codecs_differ(synthetic_set, real_set);
  if (report["codec_mismatch"].get<bool>()) {
    spdlog::warn(
        "evaluate: the synthetic images are {} and the real ones {}: compression alone moves these "
        "metrics, so compare like with like",
        nlohmann::json(synthetic_set.codecs).dump(), nlohmann::json(real_set.codecs).dump());
  }

  report["overall"] = compare_features(real_features, synthetic_features, options.metrics, options.k, options.seed);
  if (report["overall"].contains("notes") && report["overall"]["notes"].contains("fid")) {
    throw Error(report["overall"]["notes"]["fid"].get<std::string>() + " (--metrics kid,prdc leaves FID out)");
  }
  // Per bin of the prompts: each bin's synthetic images against the real
  // tiles of the same bin, or every real sample when the real side has no bins.
  for (const char* field : kBinFields) {
    json groups = json::object();
    const auto key = [&](const EvalSample& s) { return bin_of(s, field); };
    std::vector<std::string> bins;
    for (const auto& s : synthetic) {
      if (!key(s).empty() && std::find(bins.begin(), bins.end(), key(s)) == bins.end()) bins.push_back(key(s));
    }
    std::sort(bins.begin(), bins.end(), [](const std::string& a, const std::string& b) {
      const auto rank = [](const std::string& bin) {
        return bin == "low" ? 0 : bin == "medium" ? 1 : bin == "high" ? 2 : 3;
      };
      return rank(a) != rank(b) ? rank(a) < rank(b) : a < b;
    });
    for (const auto& bin : bins) {
      const auto synthetic_rows = rows_where(synthetic, key, bin);
      auto real_rows = rows_where(real, key, bin);
      const bool same_bin = !real_rows.empty();
      if (!same_bin) {
        real_rows.resize(real.size());
        for (size_t i = 0; i < real.size(); ++i) real_rows[i] = i;
      }
      auto group = compare_features(real_features.select(real_rows), synthetic_features.select(synthetic_rows),
                                    options.metrics, options.k, options.seed);
      group["reference"] = same_bin ? "real samples of the same bin" : "every real sample (none has this bin)";
      groups[bin] = group;
    }
    report["by_" + std::string(field)] = groups;
  }
  // Per denoiser, when the synthetic set mixes runs.
  json models = json::object();
  std::vector<std::string> model_ids;
  for (const auto& s : synthetic) {
    if (!s.model.empty() && std::find(model_ids.begin(), model_ids.end(), s.model) == model_ids.end()) {
      model_ids.push_back(s.model);
    }
  }
  if (model_ids.size() > 1) {
    for (const auto& id : model_ids) {
      const auto rows = rows_where(
          synthetic, [](const EvalSample& s) { return s.model; }, id);
      models[id] =
          compare_features(real_features, synthetic_features.select(rows), options.metrics, options.k, options.seed);
    }
  }
  report["by_model"] = models;

  fs::create_directories(options.out);
  if (store && train_features.rows > 0 && held_out_features.rows > 0) {
    const auto audit = audit_memorization(train_features, held_out_features, synthetic_features);
    json closest = json::array();
    write_nearest_png(audit, synthetic, train, *store, options.out / "nearest.png", closest);
    auto sorted = audit.synthetic.distance;
    report["memorization"] = {{"measured", true},
                              {"train_tiles", train_features.rows},
                              {"held_out_tiles", held_out_features.rows},
                              {"percentile", kMemorizationPercentile},
                              {"threshold", audit.threshold},
                              {"share_below", audit.share_below},
                              {"synthetic_nearest_median", percentile(sorted, 50)},
                              {"held_out_nearest_median", percentile(audit.held_out.distance, 50)},
                              {"closest", closest}};
  } else {
    report["memorization"] = {
        {"measured", false},
        {"reason", store ? "the store's split has no training or no held-out tiles (fewer than two cases)"
                         : "the real side is a folder: the audit needs --real-store, which knows the training tiles"}};
  }
  report["features"] = {{"extracted", counts.extracted}, {"cached", counts.cached}};
  write_metrics_png(report, options.metrics, options.out / "metrics.png");
  summary.seconds = clock.seconds();
  report["seconds"] = summary.seconds;
  summary.evaluation_json = report.dump(2) + "\n";
  write_file_atomically(options.out / "evaluation.json", summary.evaluation_json);
  return summary;
}

}  // namespace tessera::pipeline
