#include <CLI/CLI.hpp>
#include <cstdio>
#include <iostream>
#include <limits>
#include <memory>
#include <nlohmann/json.hpp>

#include "commands.h"
#include "model_commands.h"
#include "pipeline/evaluate.h"
#include "pipeline/progress.h"
#include "run_flags.h"

namespace tessera::cli {

void add_evaluate_command(CLI::App& app, int& exit_code) {
  struct Flags {
    pipeline::EvaluateOptions options;
    std::string progress = "auto";
    bool json = false;
  };
  auto flags = std::make_shared<Flags>();
  auto& o = flags->options;
  auto& p = o.extractor.preprocessing;
  auto* cmd = add_subcommand(app, kEvaluateCommand);
  cmd->add_option("--extractor", o.extractor.path,
                  "TorchScript feature extractor (e.g. NVlabs' inception-2015-12-05.pt)")
      ->required();
  cmd->add_option("--extractor-size", p.input_size, "Resize images to this side first (0: as they are)")
      ->capture_default_str()
      ->check(number_within(0, 4096));
  cmd->add_option("--extractor-resize", p.resize, "Resize filter")
      ->check(CLI::IsMember({"bilinear", "bicubic", "nearest", "area"}))
      ->capture_default_str();
  cmd->add_option("--extractor-range", p.value_max, "Input values span 0..255 or 0..1")
      ->check(CLI::IsMember({255.0, 1.0}))
      ->capture_default_str();
  cmd->add_option("--extractor-mean", p.mean, "Per-channel mean subtracted after scaling (3 values)")->expected(3);
  cmd->add_option("--extractor-std", p.std, "Per-channel std divided by after the mean (3 values)")->expected(3);
  cmd->add_option("--extractor-arg", p.arguments,
                  "A keyword argument of forward, name=value (default: return_features=true when declared)");
  cmd->add_option("--extractor-output", p.output, "The output holding the features: a tuple index or a dict key");
  cmd->add_option("--synthetic", o.synthetic, "generate's output folder, any folder of images, or WebDataset shards")
      ->required();
  cmd->add_option("--real", o.real, "A folder of real images, or WebDataset shards");
  cmd->add_option("--real-store", o.real_store, "A store: its tiles of --split are the reference");
  cmd->add_option("--split", o.split, "The store's tiles to compare with: val (held-out cases), train or all")
      ->check(CLI::IsMember({"val", "train", "all"}))
      ->capture_default_str();
  cmd->add_option("--val", o.val, "The store's split, as export's --val (default: export's)")
      ->check(number_within(0.0, 0.999999));
  cmd->add_option("--split-seed", o.split_seed, "The store's split, as export's --seed")
      ->capture_default_str()
      ->check(any_seed());
  cmd->add_option("--out", o.out, "Report folder: evaluation.json, metrics.png, nearest.png")->required();
  cmd->add_option("--n", o.n, "Samples drawn from each side (0: all)")
      ->capture_default_str()
      ->check(number_within(uint64_t{0}, std::numeric_limits<uint64_t>::max()));
  cmd->add_option("--seed", o.seed, "Draws the samples and KID's subsets")->capture_default_str()->check(any_seed());
  cmd->add_option("--k", o.k, "Neighbours of precision/recall/density/coverage")
      ->capture_default_str()
      ->check(number_within(1, 1000));
  cmd->add_option("--metrics", o.metrics, "Which of fid, kid and prdc")
      ->delimiter(',')
      ->check(CLI::IsMember({"fid", "kid", "prdc"}))
      ->capture_default_str();
  cmd->add_option("--batch", o.batch, "Images per extractor call")
      ->capture_default_str()
      ->check(number_within(size_t{1}, size_t{4096}));
  cmd->add_option("--device", o.extractor.device, "auto (CUDA when present), cpu, cuda or cuda:N")
      ->capture_default_str();
  add_threads_flag(cmd, o.extractor.threads);
  add_progress_flag(cmd, flags->progress);
  cmd->add_flag("--json", flags->json, "Print evaluation.json on stdout");
  cmd->callback([flags, &exit_code] {
    auto& o = flags->options;
    o.progress = pipeline::parse_progress_display(flags->progress);
    const auto s = pipeline::run_evaluate(o);
    if (s.interrupted) {
      std::cerr << "evaluate: interrupted after " << s.extracted
                << " features; they are kept, and a rerun goes on from there\n";
      exit_code = kExitInterrupted;
      return;
    }
    if (flags->json) std::cout << s.evaluation_json << std::flush;
    const auto report = nlohmann::json::parse(s.evaluation_json);
    const auto& overall = report["overall"];
    std::fprintf(stderr,
                 "evaluate: %llu synthetic against %llu real samples, extractor %s (%llu features extracted, "
                 "%llu cached)\n",
                 (unsigned long long)s.synthetic, (unsigned long long)s.real, s.extractor_id.c_str(),
                 (unsigned long long)s.extracted, (unsigned long long)s.cached);
    std::string line;
    const auto add = [&](const char* name, const nlohmann::json& value) {
      if (value.is_null()) return;
      char text[64];
      std::snprintf(text, sizeof text, "%s%s %.6g", line.empty() ? "" : ", ", name, value.get<double>());
      line += text;
    };
    if (overall.contains("fid")) add("FID", overall["fid"]);
    if (overall.contains("kid") && !overall["kid"].is_null()) add("KID", overall["kid"]["mean"]);
    for (const char* name : {"precision", "recall", "density", "coverage"}) {
      if (overall.contains(name)) add(name, overall[name]);
    }
    std::fprintf(stderr, "evaluate: %s\n", line.c_str());
    if (report["memorization"]["measured"].get<bool>()) {
      std::fprintf(stderr,
                   "evaluate: %.2f%% of synthetic images are nearer a training tile than 99%% of held-out "
                   "tiles are\n",
                   100 * report["memorization"]["share_below"].get<double>());
    }
    std::fprintf(stderr, "evaluate: wrote %s\n", (o.out / "evaluation.json").string().c_str());
    exit_code = kExitOk;
  });
}

}  // namespace tessera::cli
