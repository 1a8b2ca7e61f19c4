#include "evaluation_features.h"

#include <cerrno>
#include <cstring>
#include <fstream>
#include <future>
#include <optional>

#include "base/crash_point.h"
#include "base/error.h"
#include "config/content_hash.h"
#include "interrupt.h"
#include "run_clock.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr char kMagic[8] = {'T', 'S', 'F', 'E', 'A', 'T', '0', '1'};
constexpr size_t kHeaderBytes = 8 + 4 + 32 + 32;

std::string names_hash(const std::vector<EvalSample>& samples) {
  config::ContentHash hash;
  for (const auto& s : samples) hash.text(s.name);
  return hash.hex();
}

std::vector<float> rounded(const runtime::FeatureMatrix& m) { return {m.values.begin(), m.values.end()}; }

// Rows [0, n) of a cache file that matches, as float32 values; the file is
// cut back to its last whole row.
class FeatureFile {
 public:
  FeatureFile(fs::path path, std::string extractor_id, std::string samples_hash)
      : path_(std::move(path)), extractor_id_(std::move(extractor_id)), samples_hash_(std::move(samples_hash)) {}

  // The rows a previous run left, when its header matches; {} otherwise.
  std::vector<float> read(size_t& dim) const {
    std::ifstream in(path_, std::ios::binary);
    if (!in) return {};
    std::string header(kHeaderBytes, '\0');
    if (!in.read(header.data(), std::streamsize(header.size()))) return {};
    uint32_t d = 0;
    std::memcpy(&d, header.data() + 8, 4);
    if (header.compare(0, 8, kMagic, 8) != 0 || header.substr(12, 32) != extractor_id_ ||
        header.substr(44, 32) != samples_hash_ || d == 0) {
      return {};
    }
    const uint64_t size = fs::file_size(path_);
    const uint64_t rows = (size - kHeaderBytes) / (uint64_t(d) * 4);
    std::vector<float> values(rows * d);
    if (!in.read(reinterpret_cast<char*>(values.data()), std::streamsize(values.size() * 4))) {
      throw Error(path_.string() + ": cannot read the cached features");
    }
    dim = d;
    return values;
  }

  // Starts the file afresh, or keeps `rows` rows of it, then appends.
  void open(size_t dim, uint64_t rows) {
    fs::create_directories(path_.parent_path());
    if (rows == 0) {
      std::ofstream out(path_, std::ios::binary | std::ios::trunc);
      out.write(kMagic, 8);
      const uint32_t d = uint32_t(dim);
      out.write(reinterpret_cast<const char*>(&d), 4);
      out.write(extractor_id_.data(), 32);
      out.write(samples_hash_.data(), 32);
      if (!out) throw Error(path_.string() + ": cannot write: " + std::strerror(errno));
    } else {
      fs::resize_file(path_, kHeaderBytes + rows * dim * 4);  // a row torn by a kill goes
    }
    out_.open(path_, std::ios::binary | std::ios::app);
    if (!out_) throw Error(path_.string() + ": cannot append: " + std::strerror(errno));
  }

  void append(const std::vector<float>& values) {
    out_.write(reinterpret_cast<const char*>(values.data()), std::streamsize(values.size() * 4));
    out_.flush();
    if (!out_) throw Error(path_.string() + ": cannot write: " + std::strerror(errno));
  }

 private:
  fs::path path_;
  std::string extractor_id_;
  std::string samples_hash_;
  std::ofstream out_;
};

store::TensorRecord feature_record(const float* row, size_t dim) {
  store::TensorRecord record;
  record.kind = store::TensorKind::kImageFeatures;
  record.dtype = store::TensorDType::kF32;
  record.shape = {uint32_t(dim)};
  record.data.assign(reinterpret_cast<const char*>(row), dim * 4);
  return record;
}

}  // namespace

runtime::FeatureMatrix sample_features(runtime::FeatureExtractor& extractor, const std::vector<EvalSample>& samples,
                                       store::Store* store, const fs::path& cache_file, size_t batch,
                                       Progress& progress, FeatureCounts& counts) {
  const bool tiles = !samples.empty() && samples.front().tile.has_value();
  // Row i's values, once known.
  std::vector<std::optional<std::vector<float>>> rows(samples.size());
  size_t dim = 0;
  FeatureFile file(cache_file, extractor.id(), names_hash(samples));
  size_t file_rows = 0;
  if (tiles) {
    for (size_t i = 0; i < samples.size(); ++i) {
      const auto record = store->features(extractor.id(), *samples[i].tile);
      if (!record) continue;
      if (record->kind != store::TensorKind::kImageFeatures || record->dtype != store::TensorDType::kF32 ||
          record->shape.size() != 1 || (dim != 0 && record->shape[0] != dim)) {
        throw Error("store " + store->dir().string() + ": the features of " + samples[i].name + " by extractor " +
                    extractor.id() + " are not one row of float32 values of the others' width");
      }
      dim = record->shape[0];
      const auto* values = reinterpret_cast<const float*>(record->data.data());
      rows[i].emplace(values, values + dim);
    }
  } else {
    const auto cached = file.read(dim);
    file_rows = dim ? std::min(samples.size(), cached.size() / dim) : 0;
    for (size_t i = 0; i < file_rows; ++i) rows[i].emplace(cached.begin() + i * dim, cached.begin() + (i + 1) * dim);
  }
  std::vector<size_t> missing;
  for (size_t i = 0; i < samples.size(); ++i) {
    if (!rows[i]) missing.push_back(i);
  }
  counts.cached += samples.size() - missing.size();
  progress.slide_planned(missing.size());

  bool registered = false;
  bool file_open = false;
  // The next batch is decoded while the extractor runs on this one.
  const auto load_batch = [&](size_t begin) {
    std::vector<stages::RgbImage> images;
    for (size_t j = begin; j < std::min(missing.size(), begin + batch); ++j) {
      images.push_back(load_sample(samples[missing[j]], store));
    }
    return images;
  };
  std::future<std::vector<stages::RgbImage>> next;
  if (!missing.empty()) next = std::async(std::launch::async, load_batch, 0);
  for (size_t begin = 0; begin < missing.size() && !stop_requested(); begin += batch) {
    const size_t end = std::min(missing.size(), begin + batch);
    const auto images = next.get();
    if (end < missing.size()) next = std::async(std::launch::async, load_batch, end);
    const auto features = extractor.extract(images);
    if (dim != 0 && features.dim != dim) {
      throw Error(extractor.path() + ": gives features of " + std::to_string(features.dim) + " values, " +
                  "where it gave " + std::to_string(dim) + " before");
    }
    dim = features.dim;
    const auto values = rounded(features);
    if (tiles) {
      if (!registered) {
        auto record = extractor.model_record(dim);
        record.registered_at = utc_now();
        store->ensure_model(record);
        registered = true;
      }
      std::vector<std::pair<store::TileKey, store::TensorRecord>> put;
      for (size_t j = begin; j < end; ++j) {
        put.emplace_back(*samples[missing[j]].tile, feature_record(values.data() + (j - begin) * dim, dim));
      }
      store->put_features(extractor.id(), put);
    } else {
      if (!file_open) {
        file.open(dim, file_rows);
        file_open = true;
      }
      file.append(values);
    }
    for (size_t j = begin; j < end; ++j) {
      rows[missing[j]].emplace(values.begin() + (j - begin) * dim, values.begin() + (j - begin + 1) * dim);
    }
    counts.extracted += end - begin;
    progress.tiles_done(end - begin);
    crash_point("evaluate.batch_stored");
  }

  runtime::FeatureMatrix out;
  out.dim = dim;
  for (const auto& row : rows) {
    if (!row) break;
    out.values.insert(out.values.end(), row->begin(), row->end());
    ++out.rows;
  }
  return out;
}

}  // namespace tessera::pipeline
