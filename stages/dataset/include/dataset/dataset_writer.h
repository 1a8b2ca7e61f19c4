#pragma once

// A dataset for other tools, written one sample at a time in a fixed order.

#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace tessera::stages {

struct DatasetSample {
  std::string name;       // file name without extension, unique in the dataset
  std::string extension;  // "jpg" or "png"
  std::string image;      // the encoded image, written unchanged
  std::string prompt;
  std::string label;
  std::string split;  // "train" or "val"
  nlohmann::json meta;
};

// A file of samples that one dataset writes, e.g. a WebDataset shard.
struct DatasetShard {
  std::string file;  // relative to the dataset's folder
  std::string split;
  uint64_t samples = 0;
  uint64_t bytes = 0;
};

class DatasetWriter {
 public:
  virtual ~DatasetWriter() = default;
  // Throws tessera::Error naming the file it cannot write.
  virtual void write(const DatasetSample& sample) = 0;
  // Completes every file; returns the shards written, in split then file
  // order (none for layouts without shards). Throws tessera::Error naming the
  // file it cannot complete.
  virtual std::vector<DatasetShard> finish() = 0;
};

}  // namespace tessera::stages
