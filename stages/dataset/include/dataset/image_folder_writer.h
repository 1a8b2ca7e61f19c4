#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "dataset/dataset_writer.h"
#include "dataset/owned_files.h"

namespace tessera::stages {

// OUT/<split>/<label>/<name>.<ext>, plus OUT/<split>/metadata.jsonl (Hugging
// Face's ImageFolder reads it: file_name relative to the split, text, then the
// sample's meta). Labels become folder names through path_component(). Each
// image is written under its temporary name and renamed, so a kill or a full
// disk never leaves part of one under its final name; every path is claimed
// in `owned` before it is created.
class ImageFolderWriter : public DatasetWriter {
 public:
  ImageFolderWriter(std::filesystem::path out, OwnedFiles& owned);

  void write(const DatasetSample& sample) override;
  std::vector<DatasetShard> finish() override;

 private:
  std::filesystem::path out_;
  OwnedFiles& owned_;
  std::set<std::string> made_;  // "<split>/<label folder>" created so far
  std::map<std::string, std::unique_ptr<std::ofstream>> metadata_;
};

}  // namespace tessera::stages
