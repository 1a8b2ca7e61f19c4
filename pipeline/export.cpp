#include "pipeline/export.h"

#include <spdlog/spdlog.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <memory>
#include <nlohmann/json.hpp>
#include <optional>
#include <regex>
#include <sstream>
#include <unordered_map>

#include "base/error.h"
#include "base/file_io.h"
#include "dataset/tar_writer.h"
#include "interrupt.h"
#include "pipeline/progress.h"
#include "run_clock.h"
#include "store/store.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
using nlohmann::json;
namespace {

constexpr const char* kTrain = "train";
constexpr const char* kVal = "val";
constexpr const char* kDatasetFile = "dataset.json";

const char* format_name(ExportOptions::Format format) {
  return format == ExportOptions::Format::kWebDataset ? "webdataset" : "imagefolder";
}

const char* split_by_name(ExportOptions::SplitBy split_by) {
  using SplitBy = ExportOptions::SplitBy;
  return split_by == SplitBy::kCase ? "case" : split_by == SplitBy::kSlide ? "slide" : "none";
}

// WebDataset splits a member name at its first dot into key and extension.
std::string key_of(const std::string& name) {
  std::string key = name;
  std::replace(key.begin(), key.end(), '.', '_');
  return key;
}

// ---- Synthetic manifests --------------------------------------------------

struct SyntheticSample {
  fs::path image;
  std::string file;  // as in the manifest, relative to its folder
  std::string ext;   // "png" or "jpg"
  std::string prompt;
  std::string prompt_id;
  int64_t seed = 0;
  uint64_t index = 0;
  json fields;
  json model_ids;
  json sampler;
  std::string origin;  // manifest:line
};

struct SyntheticDir {
  fs::path dir;
  fs::path manifest;
  std::vector<SyntheticSample> samples;
};

bool is_hex32(const std::string& text) {
  return text.size() == 32 &&
         std::all_of(text.begin(), text.end(), [](char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); });
}

std::string lower(std::string text) {
  for (auto& c : text) c = char(std::tolower(uint8_t(c)));
  return text;
}

// The first bytes of the image must match the extension the manifest names.
void check_image_signature(const fs::path& path, const std::string& ext, const std::string& where) {
  std::ifstream in(path, std::ios::binary);
  char head[8] = {};
  in.read(head, sizeof head);
  if (!in && in.gcount() == 0) throw Error(where + ": cannot read image " + path.string());
  const std::string bytes(head, size_t(in.gcount()));
  const bool png = bytes == std::string("\x89PNG\r\n\x1a\n", 8);
  const bool jpeg = bytes.size() >= 3 && bytes.compare(0, 3, "\xFF\xD8\xFF") == 0;
  if ((ext == "png" && !png) || (ext == "jpg" && !jpeg)) {
    throw Error(where + ": field \"file\": " + path.string() + " is not a " + (ext == "png" ? "PNG" : "JPEG") +
                " file");
  }
}

SyntheticSample parse_manifest_line(const fs::path& dir, const std::string& line, const std::string& where) {
  json j;
  try {
    j = json::parse(line);
  } catch (const json::parse_error& e) {
    throw Error(where + ": not valid JSON: " + e.what());
  }
  if (!j.is_object()) throw Error(where + ": not a JSON object");
  const auto field = [&](const char* name) -> const json& {
    const auto it = j.find(name);
    if (it == j.end()) throw Error(where + ": field \"" + name + "\" is missing");
    return *it;
  };
  const auto bad = [&](const char* name, const std::string& why) {
    return Error(where + ": field \"" + name + "\" " + why);
  };
  SyntheticSample s;
  s.origin = where;
  const auto& file = field("file");
  if (!file.is_string() || file.get<std::string>().empty()) throw bad("file", "must be a non-empty string");
  s.file = file.get<std::string>();
  const fs::path relative(s.file);
  if (relative.is_absolute()) throw bad("file", "must be relative to " + dir.string() + ": " + s.file);
  for (const auto& part : relative) {
    if (part == "..") throw bad("file", "must stay inside " + dir.string() + ": " + s.file);
  }
  const std::string extension = lower(relative.extension().string());
  if (extension == ".png") {
    s.ext = "png";
  } else if (extension == ".jpg" || extension == ".jpeg") {
    s.ext = "jpg";
  } else {
    throw bad("file", "must name a .png or .jpg image: " + s.file);
  }
  s.image = dir / relative;
  std::error_code ec;
  if (!fs::is_regular_file(s.image, ec)) throw bad("file", "names a missing image: " + s.image.string());

  const auto& prompt = field("prompt");
  if (!prompt.is_string()) throw bad("prompt", "must be a string");
  s.prompt = prompt.get<std::string>();
  const auto& prompt_id = field("prompt_id");
  if (!prompt_id.is_string() || !is_hex32(prompt_id.get<std::string>())) {
    throw bad("prompt_id", "must be 32 lowercase hex digits");
  }
  s.prompt_id = prompt_id.get<std::string>();
  const auto& seed = field("seed");
  if (!seed.is_number_integer()) throw bad("seed", "must be an integer");
  s.seed = seed.is_number_unsigned() ? int64_t(seed.get<uint64_t>()) : seed.get<int64_t>();
  const auto& index = field("index");
  if (!index.is_number_unsigned()) throw bad("index", "must be a non-negative integer");
  s.index = index.get<uint64_t>();
  s.fields = field("fields");
  if (!s.fields.is_object()) throw bad("fields", "must be an object");
  for (const auto& [name, value] : s.fields.items()) {
    if (!value.is_string()) throw Error(where + ": field \"fields." + name + "\" must be a string");
  }
  s.model_ids = field("model_ids");
  if (!s.model_ids.is_object()) throw bad("model_ids", "must be an object");
  s.sampler = field("sampler");
  if (!s.sampler.is_object()) throw bad("sampler", "must be an object");
  if (const auto it = j.find("synthetic"); it != j.end() && *it != true) throw bad("synthetic", "must be true");
  check_image_signature(s.image, s.ext, where);
  return s;
}

SyntheticDir read_synthetic_dir(const fs::path& dir) {
  SyntheticDir out;
  out.dir = dir;
  out.manifest = dir / "manifest.jsonl";
  std::error_code ec;
  if (!fs::is_directory(dir, ec)) throw Error("synthetic folder " + dir.string() + " does not exist");
  std::ifstream in(out.manifest);
  if (!in) throw Error("synthetic folder " + dir.string() + " has no readable manifest.jsonl");
  std::unordered_map<uint64_t, std::string> index_lines;
  std::string line;
  for (size_t number = 1; std::getline(in, line); ++number) {
    if (!line.empty() && line.back() == '\r') line.pop_back();
    if (line.find_first_not_of(" \t") == std::string::npos) continue;
    const std::string where = out.manifest.string() + ":" + std::to_string(number);
    auto sample = parse_manifest_line(dir, line, where);
    // The index names the sample's files; two equal ones would overwrite each other.
    const auto [it, inserted] = index_lines.emplace(sample.index, where);
    if (!inserted) {
      throw Error(where + ": field \"index\" " + std::to_string(sample.index) + " is already used at " + it->second);
    }
    out.samples.push_back(std::move(sample));
  }
  if (in.bad()) throw Error("cannot read " + out.manifest.string());
  return out;
}

// ---- The output folder ----------------------------------------------------

// What an export writes at the top of its folder, temporaries included.
bool owned_entry(const std::string& name) {
  static const std::regex shard(R"((train|val)-[0-9]{6}\.tar(\.partial)?)");
  return name == kDatasetFile || name == std::string(kDatasetFile) + ".partial" || name == kTrain || name == kVal ||
         std::regex_match(name, shard);
}

// Refuses an output folder holding anything, or with `overwrite` anything an
// export did not write, so --overwrite can never delete someone's files.
std::vector<fs::path> check_output_dir(const ExportOptions& options) {
  std::error_code ec;
  if (!fs::exists(options.out, ec)) return {};
  if (!fs::is_directory(options.out, ec)) throw Error("output " + options.out.string() + " is not a folder");
  std::vector<fs::path> owned;
  for (const auto& entry : fs::directory_iterator(options.out)) {
    const std::string name = entry.path().filename().string();
    if (!options.overwrite) {
      throw Error("output folder " + options.out.string() + " is not empty (it holds " + name +
                  "); pass --overwrite to replace an earlier export");
    }
    if (!owned_entry(name)) {
      throw Error("output folder " + options.out.string() + " holds " + name +
                  ", which an export does not write; --overwrite only replaces an earlier export");
    }
    owned.push_back(entry.path());
  }
  std::sort(owned.begin(), owned.end());
  return owned;
}

// ---- Samples and the two layouts ------------------------------------------

struct Sample {
  std::string name;  // file name without extension
  std::string ext;   // "jpg" or "png"
  std::string image;
  std::string prompt;
  std::string label;
  std::string split;
  json meta;
};

class SampleSink {
 public:
  virtual ~SampleSink() = default;
  virtual void write(const Sample& sample) = 0;
  virtual void finish() = 0;
  virtual std::vector<ExportShard> shards() const { return {}; }
};

// OUT/<split>/<label>/<name>.<ext>, plus OUT/<split>/metadata.jsonl (Hugging
// Face's ImageFolder reads it: file_name relative to the split, text, metadata).
class ImageFolderSink : public SampleSink {
 public:
  explicit ImageFolderSink(fs::path out) : out_(std::move(out)) {}

  void write(const Sample& s) override {
    const fs::path split_dir = out_ / s.split;
    const std::string label_dir = path_component(s.label);
    if (made_.insert(s.split + "/" + label_dir).second) fs::create_directories(split_dir / label_dir);
    const std::string relative = label_dir + "/" + s.name + "." + s.ext;
    tessera::write_file(split_dir / relative, s.image);
    auto& metadata = metadata_[s.split];
    if (!metadata) {
      metadata = std::make_unique<std::ofstream>(split_dir / "metadata.jsonl", std::ios::binary | std::ios::trunc);
      if (!*metadata) throw Error("cannot create " + (split_dir / "metadata.jsonl").string());
    }
    json line = {{"file_name", relative}, {"text", s.prompt}};
    line.update(s.meta);
    *metadata << line.dump() << '\n';
    if (!*metadata) throw Error("cannot write " + (split_dir / "metadata.jsonl").string());
  }

  void finish() override {
    for (auto& [split, metadata] : metadata_) {
      metadata->close();
      if (!*metadata) throw Error("cannot write " + (out_ / split / "metadata.jsonl").string());
    }
  }

 private:
  fs::path out_;
  std::set<std::string> made_;
  std::map<std::string, std::unique_ptr<std::ofstream>> metadata_;
};

// OUT/<split>-NNNNNN.tar: per sample <key>.<ext>, <key>.txt, <key>.json.
class WebDatasetSink : public SampleSink {
 public:
  WebDatasetSink(fs::path out, uint64_t shard_bytes) : out_(std::move(out)), shard_bytes_(shard_bytes) {}

  void write(const Sample& s) override {
    const std::string key = key_of(s.name);
    const std::string meta = s.meta.dump();
    const std::string image_name = key + "." + s.ext, text_name = key + ".txt", meta_name = key + ".json";
    const uint64_t bytes = stages::TarWriter::member_bytes(image_name, s.image.size()) +
                           stages::TarWriter::member_bytes(text_name, s.prompt.size()) +
                           stages::TarWriter::member_bytes(meta_name, meta.size());
    auto& split = splits_[s.split];
    if (split.writer && split.writer->members() > 0 &&
        split.writer->bytes() + bytes + stages::TarWriter::kEndBytes > shard_bytes_) {
      close_shard(split);
    }
    if (!split.writer) {
      char file[64];
      std::snprintf(file, sizeof file, "%s-%06llu.tar", s.split.c_str(), (unsigned long long)split.next);
      ++split.next;
      split.writer = std::make_unique<stages::TarWriter>(out_ / file);
      split.shards.push_back({file, s.split, 0, 0});
    }
    split.writer->add(image_name, s.image);
    split.writer->add(text_name, s.prompt);
    split.writer->add(meta_name, meta);
    ++split.shards.back().samples;
  }

  void finish() override {
    for (auto& [name, split] : splits_) {
      if (split.writer) close_shard(split);
    }
  }

  std::vector<ExportShard> shards() const override {
    std::vector<ExportShard> all;
    for (const auto& [name, split] : splits_) all.insert(all.end(), split.shards.begin(), split.shards.end());
    return all;
  }

 private:
  struct Split {
    std::unique_ptr<stages::TarWriter> writer;
    uint64_t next = 0;
    std::vector<ExportShard> shards;
  };

  void close_shard(Split& split) {
    split.writer->close();
    split.shards.back().bytes = split.writer->bytes();
    split.writer.reset();
  }

  fs::path out_;
  uint64_t shard_bytes_;
  std::map<std::string, Split> splits_;
};

// ---- The run ---------------------------------------------------------------

void check_options(const ExportOptions& o) {
  if (o.store.empty()) throw Error("export needs a store folder");
  if (o.out.empty()) throw Error("export needs an output folder");
  if (!(o.val >= 0 && o.val < 1)) throw Error("--val " + std::to_string(o.val) + " must be in [0, 1)");
  if (o.shard_bytes == 0) throw Error("--shard-bytes must be positive");
  static const std::set<std::string> labels = {"", "tumor", "til", "case", "slide"};
  if (!labels.count(o.label)) throw Error("--label " + o.label + " is not one of tumor, til, case, slide");
}

std::string case_of(const store::SlideRecord& slide) { return slide.case_id.empty() ? slide.id : slide.case_id; }

std::string group_of(const store::SlideRecord& slide, ExportOptions::SplitBy split_by) {
  return split_by == ExportOptions::SplitBy::kCase ? case_of(slide) : slide.id;
}

std::string real_label(const std::string& label, const store::SlideRecord& slide,
                       const std::optional<store::PromptRecord>& prompt) {
  if (label.empty()) return "all";
  if (label == "case") return case_of(slide);
  if (label == "slide") return slide.id;
  const std::string value = !prompt ? "" : label == "tumor" ? prompt->tumor : prompt->til;
  return value.empty() ? "unlabeled" : value;
}

std::string synthetic_label(const std::string& label, const json& fields) {
  if (label.empty()) return "all";
  const auto it = fields.find(label);
  return it == fields.end() || it->get<std::string>().empty() ? "unlabeled" : it->get<std::string>();
}

// The float as its shortest decimal (0.499f, not 0.49900001287460327).
double float_value(float value) {
  char text[32];
  std::snprintf(text, sizeof text, "%.7g", double(value));
  return std::strtod(text, nullptr);
}

json counts_json(const std::map<std::string, uint64_t>& counts) {
  json j = json::object();
  for (const auto& [name, count] : counts) j[name] = count;
  return j;
}

}  // namespace

std::string path_component(const std::string& text) {
  std::string out = text;
  for (auto& c : out) {
    if (c == '/' || c == '\\' || uint8_t(c) < 0x20 || c == 0x7f) c = '_';
  }
  if (out.empty() || out == "." || out == "..") out = "_" + out;
  return out;
}

std::set<std::string> choose_val_groups(const std::set<std::string>& groups, double val, uint64_t seed) {
  const size_t n = groups.size();
  if (!(val > 0) || n < 2) return {};
  const size_t k = std::clamp<size_t>(size_t(std::llround(val * double(n))), 1, n - 1);
  std::vector<std::pair<uint64_t, std::string>> order;
  order.reserve(n);
  for (const auto& g : groups) order.emplace_back(XXH3_64bits_withSeed(g.data(), g.size(), seed), g);
  std::sort(order.begin(), order.end());
  std::set<std::string> chosen;
  for (size_t i = 0; i < k; ++i) chosen.insert(order[i].second);
  return chosen;
}

ExportSummary run_export(const ExportOptions& options) {
  const RunClock clock;
  check_options(options);
  const auto owned = check_output_dir(options);
  std::vector<SyntheticDir> synthetic;
  for (const auto& dir : options.synthetic) synthetic.push_back(read_synthetic_dir(dir));

  store::StoreOptions store_options;
  store_options.read_only = true;
  const auto store = store::Store::open(options.store, store_options);
  std::vector<store::SlideRecord> slides;
  std::vector<std::string> not_complete;
  for (auto& slide : store->slides()) {
    if (slide.status == store::SlideStatus::kComplete) {
      slides.push_back(std::move(slide));
    } else {
      not_complete.push_back(slide.id);
    }
  }
  std::sort(slides.begin(), slides.end(), [](const auto& a, const auto& b) { return a.id < b.id; });
  // A sample's key is the slide's key plus _r<row>_c<col>, so distinct slide keys give distinct sample keys.
  std::map<std::string, std::string> slide_keys;
  for (const auto& slide : slides) {
    const auto [it, inserted] = slide_keys.emplace(key_of(path_component(slide.id)), slide.id);
    if (!inserted) {
      throw Error("slides " + it->second + " and " + slide.id + " in store " + options.store.string() +
                  " would get the same export name " + it->first);
    }
  }
  size_t synthetic_total = 0;
  for (const auto& dir : synthetic) synthetic_total += dir.samples.size();
  if (slides.empty() && synthetic_total == 0) {
    throw Error("nothing to export: store " + options.store.string() + " has no complete slides" +
                (options.synthetic.empty() ? "" : " and the synthetic manifests are empty"));
  }

  std::set<std::string> groups;
  if (options.split_by != ExportOptions::SplitBy::kNone) {
    for (const auto& slide : slides) groups.insert(group_of(slide, options.split_by));
  }
  const auto val_groups = choose_val_groups(groups, options.val, options.seed);
  if (options.val > 0 && groups.size() < 2 && options.split_by != ExportOptions::SplitBy::kNone) {
    spdlog::warn("export: fewer than two {}s among the complete slides; everything goes to train",
                 split_by_name(options.split_by));
  }

  // Every input is checked: only now is anything removed or written.
  for (const auto& path : owned) fs::remove_all(path);
  fs::create_directories(options.out);

  std::unique_ptr<SampleSink> sink;
  if (options.format == ExportOptions::Format::kWebDataset) {
    sink = std::make_unique<WebDatasetSink>(options.out, options.shard_bytes);
  } else {
    sink = std::make_unique<ImageFolderSink>(options.out);
  }
  ExportSummary summary;
  summary.splits = {{kTrain, 0}, {kVal, 0}};
  std::map<std::string, std::map<std::string, uint64_t>> split_sources = {{kTrain, {{"real", 0}, {"synthetic", 0}}},
                                                                          {kVal, {{"real", 0}, {"synthetic", 0}}}};
  const auto count = [&](const Sample& s, const char* source) {
    ++summary.splits[s.split];
    ++summary.labels[s.label];
    ++split_sources[s.split][source];
  };

  InterruptScope interrupt;
  Progress progress(resolve_mode(options.progress), slides.size() + synthetic.size());
  for (const auto& slide : slides) progress.slide_planned(uint64_t(std::max<int64_t>(0, slide.tiles_kept)));
  for (const auto& dir : synthetic) progress.slide_planned(dir.samples.size());

  std::unordered_map<std::string, std::optional<store::PromptRecord>> prompts;
  const auto prompt_of = [&](const std::string& id) -> const std::optional<store::PromptRecord>& {
    auto it = prompts.find(id);
    if (it == prompts.end()) it = prompts.emplace(id, id.empty() ? std::nullopt : store->prompt(id)).first;
    return it->second;
  };

  for (const auto& slide : slides) {
    const std::string case_id = case_of(slide);
    const std::string split =
        val_groups.count(group_of(slide, options.split_by)) ? std::string(kVal) : std::string(kTrain);
    std::vector<std::pair<store::TileKey, store::TileRecord>> tiles;
    store->for_each_tile(slide.id,
                         [&](const store::TileKey& k, const store::TileRecord& r) { tiles.emplace_back(k, r); });
    const std::string slide_name = path_component(slide.id);
    for (const auto& [k, r] : tiles) {
      if ((summary.interrupted = stop_requested())) break;
      auto pixels = store->tile_pixels(slide.id, k.row, k.col);
      if (!pixels) {
        throw Error("store " + options.store.string() + ": tile row " + std::to_string(k.row) + " col " +
                    std::to_string(k.col) + " of slide " + slide.id + " has no pixels");
      }
      const auto& prompt = prompt_of(r.prompt_id);
      if (!r.prompt_id.empty() && !prompt) {
        throw Error("store " + options.store.string() + ": prompt " + r.prompt_id + " of slide " + slide.id +
                    " is missing");
      }
      Sample s;
      s.name = slide_name + "_r" + std::to_string(k.row) + "_c" + std::to_string(k.col);
      s.ext = "jpg";
      s.image = std::move(*pixels);
      s.prompt = prompt ? prompt->text : "";
      s.label = real_label(options.label, slide, prompt);
      s.split = split;
      s.meta = {{"key", key_of(s.name)},
                {"source", "real"},
                {"slide_id", slide.id},
                {"case_id", case_id},
                {"row", k.row},
                {"col", k.col},
                {"x", r.x},
                {"y", r.y},
                {"size", r.size},
                {"mpp", float_value(r.mpp)},
                {"prompt_id", r.prompt_id.empty() ? json(nullptr) : json(r.prompt_id)},
                {"label", s.label},
                {"split", s.split}};
      sink->write(s);
      count(s, "real");
      ++summary.real;
      progress.tiles_done(1);
    }
    if (summary.interrupted) break;
    progress.slide_finished("export: " + slide.id + ": " + std::to_string(tiles.size()) + " tiles to " + split);
  }

  for (size_t d = 0; d < synthetic.size() && !summary.interrupted; ++d) {
    for (const auto& syn : synthetic[d].samples) {
      if ((summary.interrupted = stop_requested())) break;
      Sample s;
      s.name = "syn" + std::to_string(d) + "_" + std::to_string(syn.index);
      s.ext = syn.ext;
      s.image = tessera::read_file(syn.image);
      s.prompt = syn.prompt;
      s.label = synthetic_label(options.label, syn.fields);
      s.split = kTrain;  // validation must be real data
      s.meta = {{"key", key_of(s.name)},
                {"source", "synthetic"},
                {"slide_id", nullptr},
                {"case_id", nullptr},
                {"row", nullptr},
                {"col", nullptr},
                {"x", nullptr},
                {"y", nullptr},
                {"size", nullptr},
                {"mpp", nullptr},
                {"prompt_id", syn.prompt_id},
                {"label", s.label},
                {"split", s.split},
                {"seed", syn.seed},
                {"index", syn.index},
                {"fields", syn.fields},
                {"model_ids", syn.model_ids},
                {"sampler", syn.sampler},
                {"manifest", syn.origin},
                {"file", syn.file}};
      sink->write(s);
      count(s, "synthetic");
      ++summary.synthetic;
      progress.tiles_done(1);
    }
    if (summary.interrupted) break;
    progress.slide_finished("export: " + synthetic[d].dir.string() + ": " +
                            std::to_string(synthetic[d].samples.size()) + " synthetic samples to train");
  }
  progress.finish();
  if (summary.interrupted) {
    // The sink's open shards are removed with it; finished ones stay, and without dataset.json the folder
    // reads as unfinished.
    sink.reset();
    summary.seconds = clock.seconds();
    return summary;
  }
  sink->finish();
  summary.shards = sink->shards();

  json dataset;
  dataset["format"] = format_name(options.format);
  dataset["store"] = fs::absolute(options.store).lexically_normal().string();
  dataset["created"] = utc_now();
  json synthetic_dirs = json::array();
  for (const auto& dir : synthetic) synthetic_dirs.push_back(fs::absolute(dir.dir).lexically_normal().string());
  dataset["options"] = {{"format", format_name(options.format)},
                        {"split_by", split_by_name(options.split_by)},
                        {"val", options.val},
                        {"seed", options.seed},
                        {"label", options.label.empty() ? json(nullptr) : json(options.label)},
                        {"shard_bytes", options.shard_bytes},
                        {"synthetic", synthetic_dirs}};
  json split_source = json::object();
  for (const auto& [split, sources] : split_sources) split_source[split] = counts_json(sources);
  dataset["counts"] = {{"samples", summary.real + summary.synthetic},
                       {"source", {{"real", summary.real}, {"synthetic", summary.synthetic}}},
                       {"split", counts_json(summary.splits)},
                       {"label", counts_json(summary.labels)},
                       {"split_source", split_source}};
  json val_list = json::array();
  for (const auto& g : val_groups) val_list.push_back(g);
  dataset["groups"] = {{"by", split_by_name(options.split_by)}, {"total", groups.size()}, {"val", val_list}};
  json slide_list = json::array();
  for (const auto& slide : slides) slide_list.push_back(slide.id);
  dataset["slides"] = {{"exported", slide_list}, {"not_complete", not_complete}};
  json shards = json::array();
  for (const auto& shard : summary.shards) {
    shards.push_back(
        {{"file", shard.file}, {"split", shard.split}, {"samples", shard.samples}, {"bytes", shard.bytes}});
  }
  dataset["shards"] = shards;
  summary.dataset_json = dataset.dump(2);

  // Written last, and by rename: its presence says the export finished.
  const fs::path final_path = options.out / kDatasetFile;
  const fs::path partial = options.out / (std::string(kDatasetFile) + ".partial");
  tessera::write_file(partial, summary.dataset_json + "\n");
  std::error_code ec;
  fs::rename(partial, final_path, ec);
  if (ec) throw Error("cannot rename " + partial.string() + " to " + final_path.string() + ": " + ec.message());
  summary.seconds = clock.seconds();
  return summary;
}

}  // namespace tessera::pipeline
