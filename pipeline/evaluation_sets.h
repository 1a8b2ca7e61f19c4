#pragma once

// The two sides `tessera evaluate` compares, as lists of samples: a
// synthetic set's images (with their prompt's bins and model ids when the
// folder has generate's manifest), a folder's images, or a store's tiles of
// one side of export's case split.

#include <cstdint>
#include <filesystem>
#include <map>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "dataset/tar_reader.h"
#include "imaging/rgb_image.h"
#include "store/keys.h"
#include "store/store.h"

namespace tessera::pipeline {

struct EvalSample {
  std::string name;                         // a file relative to its folder, or "SLIDE r ROW c COL"
  std::filesystem::path file;               // an image file, or the shard holding the image
  std::optional<stages::TarMember> member;  // the image's member of shard `file`
  std::optional<store::TileKey> tile;       // a store's tile
  std::string tumor, til;                   // the prompt's bins; "" when unknown
  std::string model;                        // the denoiser's id (synthetic sets); "" when unknown
  std::string split;                        // a store's tile: "train" or "val"
};

struct EvalSet {
  std::string kind;  // "synthetic-set", "images", "shards" or "store"
  std::vector<std::filesystem::path> sources;
  std::vector<EvalSample> samples;  // in a fixed order: manifest order, file names, or slides and tile keys
  std::vector<std::string> codecs;  // "png", "jpeg" or "jpeg q90", sorted, distinct
  // A synthetic set's model ids by role (unet, first_stage, cond_stage): each distinct id.
  std::map<std::string, std::set<std::string>> model_ids;
};

// A folder written by `tessera generate` (its manifest.jsonl), or any folder
// of .png/.jpg/.jpeg files, searched recursively. Throws tessera::Error
// naming the folder when it holds no image, or the manifest's line at fault.
EvalSet synthetic_samples(const std::filesystem::path& dir);
EvalSet image_folder_samples(const std::filesystem::path& dir);

// WebDataset shards (.tar): each key's image member (.png, .jpg, .jpeg),
// with its bins and denoiser from the key's .json (`fields`, `model_ids`,
// as export writes them). Samples whose .json says `"source"` is the other
// side (`tessera export` mixes real and synthetic samples) are left out.
// Throws tessera::Error naming a shard that is not tar, or when no image is left.
EvalSet shard_samples(const std::vector<std::filesystem::path>& shards, const std::string& side);

// What a side's paths name: one synthetic set or folder of images, a folder
// of shards, or shard files. `side` is "synthetic" or "real". Throws
// tessera::Error naming a path that is none of these.
EvalSet samples_at(const std::vector<std::filesystem::path>& paths, const std::string& side);

// The tiles of the store's complete slides, each with its prompt's bins and
// its side of export's case split with `val` and `seed`.
EvalSet store_samples(const store::Store& store, double val, uint64_t seed);

// The samples on `split`: "train", "val", or "all" of them.
std::vector<EvalSample> samples_on(const EvalSet& set, const std::string& split);

// `n` samples drawn by `seed`, in their set's order; all of them when n is 0
// or at least their number.
std::vector<EvalSample> draw_samples(const std::vector<EvalSample>& samples, uint64_t n, uint64_t seed);

// The sample's pixels. Throws tessera::Error naming the file or tile.
stages::RgbImage load_sample(const EvalSample& sample, const store::Store* store);

}  // namespace tessera::pipeline
