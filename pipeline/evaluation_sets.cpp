#include "evaluation_sets.h"

#include <algorithm>
#include <random>
#include <set>

#include "base/ascii_case.h"
#include "base/error.h"
#include "dataset/synthetic_set.h"
#include "dataset/tar_reader.h"
#include "export_samples.h"
#include "export_split.h"
#include "imaging/image_file.h"
#include "imaging/jpeg_codec.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

// "png" or "jpeg" for an image file's extension; "" for any other file.
std::string image_codec(const fs::path& file) {
  const std::string extension = ascii_lowercase(file.extension().string());
  if (extension == ".png") return "png";
  if (extension == ".jpg" || extension == ".jpeg") return "jpeg";
  return "";
}

std::vector<std::string> sorted_distinct(const std::set<std::string>& values) { return {values.begin(), values.end()}; }

std::string field(const nlohmann::ordered_json& fields, const char* name) {
  const auto it = fields.find(name);
  return it == fields.end() || !it->is_string() ? "" : it->get<std::string>();
}

}  // namespace

EvalSet image_folder_samples(const fs::path& dir) {
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": no such folder of images");
  EvalSet set;
  set.kind = "images";
  set.sources = {dir};
  std::set<std::string> codecs;
  for (const auto& entry : fs::recursive_directory_iterator(dir)) {
    if (!entry.is_regular_file()) continue;
    const std::string codec = image_codec(entry.path());
    if (codec.empty()) continue;
    EvalSample sample;
    sample.name = fs::relative(entry.path(), dir).generic_string();
    sample.file = entry.path();
    set.samples.push_back(std::move(sample));
    codecs.insert(codec);
  }
  if (set.samples.empty()) throw Error(dir.string() + ": holds no .png, .jpg or .jpeg image");
  std::sort(set.samples.begin(), set.samples.end(),
            [](const EvalSample& a, const EvalSample& b) { return a.name < b.name; });
  set.codecs = sorted_distinct(codecs);
  return set;
}

EvalSet synthetic_samples(const fs::path& dir) {
  const stages::SyntheticSet synthetic(dir);
  if (!synthetic.has_manifest()) return image_folder_samples(dir);
  EvalSet set;
  set.kind = "synthetic-set";
  set.sources = {dir};
  std::set<std::string> codecs;
  for (const auto& image : synthetic.read_rows()) {
    EvalSample sample;
    sample.name = image.row.file;
    sample.file = image.image;
    sample.tumor = field(image.row.fields, "tumor");
    sample.til = field(image.row.fields, "til");
    sample.model = field(image.row.model_ids, "unet");
    for (const auto& [role, id] : image.row.model_ids.items()) {
      if (id.is_string()) set.model_ids[role].insert(id.get<std::string>());
    }
    codecs.insert(image.extension == "jpg" ? "jpeg" : image.extension);
    set.samples.push_back(std::move(sample));
  }
  if (set.samples.empty()) throw Error(synthetic.manifest_path().string() + ": lists no image");
  set.codecs = sorted_distinct(codecs);
  return set;
}

EvalSet store_samples(const store::Store& store, double val, uint64_t seed) {
  std::vector<store::SlideRecord> complete;
  for (auto& slide : store.slides()) {
    if (slide.status == store::SlideStatus::kComplete) complete.push_back(std::move(slide));
  }
  ExportOptions split_options;
  split_options.val = val;
  split_options.seed = seed;
  const ValSplit val_split(complete, split_options);
  EvalSet set;
  set.kind = "store";
  set.sources = {store.dir()};
  std::set<std::string> codecs;
  std::map<std::string, std::optional<store::PromptRecord>> prompts;
  for (const auto& slide : complete) {
    const std::string split = val_split.split_of(slide);
    codecs.insert(slide.codec == "jpeg" && slide.codec_quality > 0 ? "jpeg q" + std::to_string(slide.codec_quality)
                                                                   : slide.codec);
    store.for_each_tile(slide.id, [&](const store::TileKey& key, const store::TileRecord& tile) {
      EvalSample sample;
      sample.name = key.slide_id + " r" + std::to_string(key.row) + " c" + std::to_string(key.col);
      sample.tile = key;
      sample.split = split;
      if (!tile.prompt_id.empty()) {
        auto it = prompts.find(tile.prompt_id);
        if (it == prompts.end()) it = prompts.emplace(tile.prompt_id, store.prompt(tile.prompt_id)).first;
        if (it->second) {
          sample.tumor = it->second->tumor;
          sample.til = it->second->til;
        }
      }
      set.samples.push_back(std::move(sample));
    });
  }
  set.codecs = sorted_distinct(codecs);
  return set;
}

EvalSet shard_samples(const std::vector<fs::path>& shards, const std::string& side) {
  EvalSet set;
  set.kind = "shards";
  set.sources = shards;
  std::set<std::string> codecs;
  const std::string other_side = side == "real" ? "synthetic" : "real";
  for (const auto& shard : shards) {
    // A WebDataset sample is the members sharing a key: the name up to the
    // first dot of its last path component.
    std::map<std::string, std::pair<std::optional<stages::TarMember>, std::optional<stages::TarMember>>> by_key;
    std::vector<std::string> order;
    for (const auto& member : stages::list_tar_members(shard)) {
      const auto slash = member.name.rfind('/');
      const auto dot = member.name.find('.', slash == std::string::npos ? 0 : slash + 1);
      if (dot == std::string::npos) continue;
      const std::string key = member.name.substr(0, dot);
      const std::string extension = ascii_lowercase(member.name.substr(dot + 1));
      if (!by_key.count(key)) order.push_back(key);
      if (extension == "png" || extension == "jpg" || extension == "jpeg") by_key[key].first = member;
      if (extension == "json") by_key[key].second = member;
    }
    for (const auto& key : order) {
      const auto& [image, meta] = by_key[key];
      if (!image) continue;
      EvalSample sample;
      sample.name = shard.filename().string() + ":" + image->name;
      sample.file = shard;
      sample.member = image;
      if (meta) {
        nlohmann::json j;
        try {
          j = nlohmann::json::parse(stages::read_tar_member(shard, *meta));
        } catch (const nlohmann::json::exception& e) {
          throw Error(shard.string() + ": member " + meta->name + " is not JSON: " + e.what());
        }
        if (j.value("source", "") == other_side) continue;
        if (j.contains("fields") && j["fields"].is_object()) {
          sample.tumor = j["fields"].value("tumor", "");
          sample.til = j["fields"].value("til", "");
        }
        if (j.contains("model_ids") && j["model_ids"].is_object()) {
          sample.model = j["model_ids"].value("unet", "");
          for (const auto& [role, id] : j["model_ids"].items()) {
            if (id.is_string()) set.model_ids[role].insert(id.get<std::string>());
          }
        }
      }
      codecs.insert(image_codec(image->name));
      set.samples.push_back(std::move(sample));
    }
  }
  if (set.samples.empty()) {
    throw Error((shards.size() == 1 ? shards.front().string() : std::to_string(shards.size()) + " shards") + ": no " +
                side + " image in the shards");
  }
  set.codecs = sorted_distinct(codecs);
  return set;
}

EvalSet samples_at(const std::vector<fs::path>& paths, const std::string& side) {
  if (paths.empty()) throw Error("no " + side + " images given");
  const auto is_shard = [](const fs::path& p) { return ascii_lowercase(p.extension().string()) == ".tar"; };
  if (std::all_of(paths.begin(), paths.end(), is_shard)) {
    for (const auto& p : paths) {
      if (!fs::is_regular_file(p)) throw Error(p.string() + ": no such shard");
    }
    return shard_samples(paths, side);
  }
  if (paths.size() > 1) {
    throw Error("--" + side + ": give one folder, or WebDataset shards (.tar); " + paths[1].string() + " is neither");
  }
  const auto& dir = paths.front();
  if (!fs::is_directory(dir)) throw Error(dir.string() + ": no such folder or shard");
  if (side == "synthetic" && fs::exists(dir / "manifest.jsonl")) return synthetic_samples(dir);
  // A folder of shards, as `tessera export --format webdataset` writes.
  std::vector<fs::path> shards;
  bool images = false;
  for (const auto& entry : fs::directory_iterator(dir)) {
    if (entry.is_regular_file() && is_shard(entry.path())) shards.push_back(entry.path());
    if (entry.is_regular_file() && !image_codec(entry.path()).empty()) images = true;
  }
  if (!shards.empty() && !images) {
    std::sort(shards.begin(), shards.end());
    return shard_samples(shards, side);
  }
  return image_folder_samples(dir);
}

std::vector<EvalSample> samples_on(const EvalSet& set, const std::string& split) {
  if (split == "all") return set.samples;
  std::vector<EvalSample> on;
  for (const auto& s : set.samples) {
    if (s.split == split) on.push_back(s);
  }
  return on;
}

std::vector<EvalSample> draw_samples(const std::vector<EvalSample>& samples, uint64_t n, uint64_t seed) {
  if (n == 0 || n >= samples.size()) return samples;
  std::vector<size_t> order(samples.size());
  for (size_t i = 0; i < order.size(); ++i) order[i] = i;
  std::mt19937_64 random(seed);
  std::shuffle(order.begin(), order.end(), random);
  order.resize(n);
  std::sort(order.begin(), order.end());
  std::vector<EvalSample> drawn;
  drawn.reserve(n);
  for (const size_t i : order) drawn.push_back(samples[i]);
  return drawn;
}

stages::RgbImage load_sample(const EvalSample& sample, const store::Store* store) {
  if (sample.member) {
    return stages::decode_image(stages::read_tar_member(sample.file, *sample.member), sample.name);
  }
  if (!sample.tile) return stages::read_image(sample.file.string());
  const auto& t = *sample.tile;
  const auto jpeg = store->tile_pixels(t.slide_id, t.row, t.col);
  if (!jpeg) throw Error("store " + store->dir().string() + ": tile " + sample.name + " has no pixels");
  try {
    return stages::decode_jpeg(*jpeg);
  } catch (const Error& e) {
    throw Error("store " + store->dir().string() + ": tile " + sample.name + ": " + e.what());
  }
}

}  // namespace tessera::pipeline
