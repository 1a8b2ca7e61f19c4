#include "dataset/image_folder_writer.h"

#include "base/error.h"
#include "base/file_io.h"
#include "dataset/path_component.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMetadataFile = "metadata.jsonl";

}  // namespace

ImageFolderWriter::ImageFolderWriter(fs::path out) : out_(std::move(out)) {}

void ImageFolderWriter::write(const DatasetSample& s) {
  const fs::path split_dir = out_ / s.split;
  const std::string label_dir = path_component(s.label);
  if (made_.insert(s.split + "/" + label_dir).second) fs::create_directories(split_dir / label_dir);
  const std::string relative = label_dir + "/" + s.name + "." + s.extension;
  tessera::write_file(split_dir / relative, s.image);
  auto& metadata = metadata_[s.split];
  if (!metadata) {
    metadata = std::make_unique<std::ofstream>(split_dir / kMetadataFile, std::ios::binary | std::ios::trunc);
    if (!*metadata) throw Error("cannot create " + (split_dir / kMetadataFile).string());
  }
  nlohmann::json line = {{"file_name", relative}, {"text", s.prompt}};
  line.update(s.meta);
  *metadata << line.dump() << '\n';
  if (!*metadata) throw Error("cannot write " + (split_dir / kMetadataFile).string());
}

std::vector<DatasetShard> ImageFolderWriter::finish() {
  for (auto& [split, metadata] : metadata_) {
    metadata->close();
    if (!*metadata) throw Error("cannot write " + (out_ / split / kMetadataFile).string());
  }
  return {};
}

}  // namespace tessera::stages
