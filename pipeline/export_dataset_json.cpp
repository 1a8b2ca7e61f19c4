#include "export_dataset_json.h"

#include <filesystem>
#include <map>

#include "run_clock.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

const char* format_name(ExportOptions::Format format) {
  return format == ExportOptions::Format::kWebDataset ? "webdataset" : "imagefolder";
}

json counts_json(const std::map<std::string, uint64_t>& counts) {
  json j = json::object();
  for (const auto& [name, count] : counts) j[name] = count;
  return j;
}

}  // namespace

json dataset_json(const ExportOptions& options, const ExportSummary& summary, const ValSplit& split,
                  const std::vector<store::SlideRecord>& exported, const std::vector<std::string>& not_complete) {
  json dataset;
  dataset["format"] = format_name(options.format);
  dataset["store"] = fs::absolute(options.store).lexically_normal().string();
  dataset["created"] = utc_now();
  json synthetic_dirs = json::array();
  for (const auto& dir : options.synthetic) synthetic_dirs.push_back(fs::absolute(dir).lexically_normal().string());
  dataset["options"] = {{"format", format_name(options.format)},
                        {"split_by", split_by_name(options.split_by)},
                        {"val", options.val},
                        {"seed", options.seed},
                        {"label", options.label.empty() ? json(nullptr) : json(options.label)},
                        {"shard_bytes", options.shard_bytes},
                        {"synthetic", synthetic_dirs}};
  json split_source = json::object();
  for (const auto& [name, sources] : summary.split_sources) split_source[name] = counts_json(sources);
  dataset["counts"] = {{"samples", summary.real + summary.synthetic},
                       {"source", {{"real", summary.real}, {"synthetic", summary.synthetic}}},
                       {"split", counts_json(summary.splits)},
                       {"label", counts_json(summary.labels)},
                       {"split_source", split_source}};
  json val_list = json::array();
  for (const auto& g : split.val_groups()) val_list.push_back(g);
  dataset["groups"] = {{"by", split_by_name(options.split_by)}, {"total", split.groups().size()}, {"val", val_list}};
  json slide_list = json::array();
  for (const auto& slide : exported) slide_list.push_back(slide.id);
  dataset["slides"] = {{"exported", slide_list}, {"not_complete", not_complete}};
  json shards = json::array();
  for (const auto& shard : summary.shards) {
    shards.push_back(
        {{"file", shard.file}, {"split", shard.split}, {"samples", shard.samples}, {"bytes", shard.bytes}});
  }
  dataset["shards"] = shards;
  return dataset;
}

}  // namespace tessera::pipeline
