#include "dataset/image_folder_writer.h"

#include "base/error.h"
#include "base/file_io.h"
#include "dataset/path_component.h"

namespace tessera::stages {
namespace fs = std::filesystem;
namespace {

constexpr const char* kMetadataFile = "metadata.jsonl";

}  // namespace

ImageFolderWriter::ImageFolderWriter(fs::path out, OwnedFiles& owned) : out_(std::move(out)), owned_(owned) {}

void ImageFolderWriter::write(const DatasetSample& s) {
  const fs::path split_dir = out_ / s.split;
  const std::string label_dir = path_component(s.label);
  if (made_.insert(s.split).second) {
    owned_.claim(s.split);
    fs::create_directories(split_dir);
  }
  if (made_.insert(s.split + "/" + label_dir).second) {
    owned_.claim(s.split + "/" + label_dir);
    fs::create_directories(split_dir / label_dir);
  }
  const std::string extension = "." + s.extension;
  const std::string relative =
      label_dir + "/" + path_component(s.name, extension.size() + tessera::kPartialSuffix.size()) + extension;
  owned_.claim(s.split + "/" + relative);
  tessera::write_file_atomically(split_dir / relative, s.image);
  auto& metadata = metadata_[s.split];
  if (!metadata) {
    owned_.claim(s.split + "/" + kMetadataFile);
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
