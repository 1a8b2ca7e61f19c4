#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <set>
#include <string>
#include <vector>

#include "dataset/dataset_writer.h"
#include "pipeline/progress.h"

namespace tessera::pipeline {

struct ExportOptions {
  std::filesystem::path store;
  std::filesystem::path out;
  enum class Format { kImageFolder, kWebDataset } format = Format::kImageFolder;
  // Folders written by `tessera generate`, each with a manifest.jsonl. Their
  // samples always go to train: validation must be real data. Default: none.
  std::vector<std::filesystem::path> synthetic;
  // What goes to val as a whole. Default: case.
  enum class SplitBy { kCase, kSlide, kNone } split_by = SplitBy::kCase;
  double val = 0.1;   // fraction of the cases (or slides) in val, in [0, 1). Default: 0.1.
  uint64_t seed = 0;  // Default: 0.
  // "" (no label), "tumor", "til", "case" or "slide". Default: "".
  std::string label;
  // A new WebDataset shard starts before a sample would make the current one
  // larger than this. Default: 1 GB.
  uint64_t shard_bytes = 1000000000;
  // Replace an earlier export in `out`. Default: false.
  bool overwrite = false;
  // Progress: a redrawn bar on a terminal, plain lines otherwise. Default: auto.
  ProgressDisplay progress = ProgressDisplay::kAuto;
};

struct ExportSummary {
  uint64_t real = 0;
  uint64_t synthetic = 0;
  std::map<std::string, uint64_t> splits;  // "train", "val" -> samples
  std::map<std::string, uint64_t> labels;  // label -> samples
  // "train", "val" -> "real", "synthetic" -> samples
  std::map<std::string, std::map<std::string, uint64_t>> split_sources;
  std::vector<stages::DatasetShard> shards;  // WebDataset only
  std::string dataset_json;                  // OUT/dataset.json as written; empty when interrupted
  double seconds = 0;
  bool interrupted = false;  // SIGINT: no dataset.json; rerun with --overwrite
};

// Writes the tiles of every complete slide in the store, then the samples of
// each synthetic folder, as an ImageFolder tree or WebDataset shards, in a
// fixed order (slides by id, tiles by key, synthetic samples in manifest
// order), and OUT/dataset.json last; SIGINT stops it before the next sample
// with no dataset.json written and no partial shard left. Every input (options, manifests, their
// images, the output folder) is checked before anything is written. Throws
// tessera::Error naming the file, line or field at fault. docs/EXPORT.md
// describes the layout.
ExportSummary run_export(const ExportOptions& options);

// The groups (case or slide ids) that go to val: the first round(val * n) of
// the groups sorted by XXH3 of the id seeded with `seed`, at least one and at
// most n - 1 when val > 0 and n >= 2, none otherwise. Deterministic for a
// seed, whatever the order of `groups`.
std::set<std::string> choose_val_groups(const std::set<std::string>& groups, double val, uint64_t seed);

}  // namespace tessera::pipeline
