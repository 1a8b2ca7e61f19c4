#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "dataset/dataset_writer.h"
#include "dataset/owned_files.h"
#include "dataset/tar_writer.h"

namespace tessera::stages {

// OUT/<split>-NNNNNN.tar, per sample <key>.<ext>, <key>.txt (the prompt) and
// <key>.json (the meta). A shard is closed before a sample would make it
// larger than `shard_bytes`, so a sample is never split; a sample larger than
// that gets a shard of its own. Destroyed before finish(), the writer leaves
// its closed shards and removes the open ones. Each shard is claimed in
// `owned` before it is created.
class WebDatasetWriter : public DatasetWriter {
 public:
  WebDatasetWriter(std::filesystem::path out, uint64_t shard_bytes, OwnedFiles& owned);

  void write(const DatasetSample& sample) override;
  std::vector<DatasetShard> finish() override;

  // The sample key of a name: WebDataset splits a member name at its first
  // dot into key and extension, so dots become '_'.
  static std::string key_of(const std::string& name);

 private:
  struct Split {
    std::unique_ptr<TarWriter> writer;  // the open shard, if any
    uint64_t next = 0;                  // number of the next shard
    std::vector<DatasetShard> shards;
  };

  void close_shard(Split& split);

  std::filesystem::path out_;
  uint64_t shard_bytes_;
  OwnedFiles& owned_;
  std::map<std::string, Split> splits_;
};

}  // namespace tessera::stages
