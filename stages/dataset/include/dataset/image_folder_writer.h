#pragma once

#include <filesystem>
#include <fstream>
#include <map>
#include <memory>
#include <set>
#include <string>

#include "dataset/dataset_writer.h"

namespace tessera::stages {

// OUT/<split>/<label>/<name>.<ext>, plus OUT/<split>/metadata.jsonl (Hugging
// Face's ImageFolder reads it: file_name relative to the split, text, then the
// sample's meta). Labels become folder names through path_component().
class ImageFolderWriter : public DatasetWriter {
 public:
  explicit ImageFolderWriter(std::filesystem::path out);

  void write(const DatasetSample& sample) override;
  std::vector<DatasetShard> finish() override;

 private:
  std::filesystem::path out_;
  std::set<std::string> made_;  // "<split>/<label folder>" created so far
  std::map<std::string, std::unique_ptr<std::ofstream>> metadata_;
};

}  // namespace tessera::stages
