#include "dataset/webdataset_writer.h"

#include <algorithm>
#include <cstdio>

namespace tessera::stages {
namespace fs = std::filesystem;

WebDatasetWriter::WebDatasetWriter(fs::path out, uint64_t shard_bytes, OwnedFiles& owned)
    : out_(std::move(out)), shard_bytes_(shard_bytes), owned_(owned) {}

std::string WebDatasetWriter::key_of(const std::string& name) {
  std::string key = name;
  std::replace(key.begin(), key.end(), '.', '_');
  return key;
}

void WebDatasetWriter::write(const DatasetSample& s) {
  const std::string key = key_of(s.name);
  const std::string meta = s.meta.dump();
  const std::string image_name = key + "." + s.extension, text_name = key + ".txt", meta_name = key + ".json";
  const uint64_t bytes = TarWriter::member_bytes(image_name, s.image.size()) +
                         TarWriter::member_bytes(text_name, s.prompt.size()) +
                         TarWriter::member_bytes(meta_name, meta.size());
  auto& split = splits_[s.split];
  if (split.writer && split.writer->members() > 0 &&
      split.writer->bytes() + bytes + TarWriter::kEndBytes > shard_bytes_) {
    close_shard(split);
  }
  if (!split.writer) {
    char file[64];
    std::snprintf(file, sizeof file, "%s-%06llu.tar", s.split.c_str(), (unsigned long long)split.next);
    ++split.next;
    owned_.claim(file);
    split.writer = std::make_unique<TarWriter>(out_ / file);
    split.shards.push_back({file, s.split, 0, 0});
  }
  split.writer->add(image_name, s.image);
  split.writer->add(text_name, s.prompt);
  split.writer->add(meta_name, meta);
  ++split.shards.back().samples;
}

std::vector<DatasetShard> WebDatasetWriter::finish() {
  std::vector<DatasetShard> all;
  for (auto& [name, split] : splits_) {
    if (split.writer) close_shard(split);
    all.insert(all.end(), split.shards.begin(), split.shards.end());
  }
  return all;
}

void WebDatasetWriter::close_shard(Split& split) {
  split.writer->close();
  split.shards.back().bytes = split.writer->bytes();
  split.writer.reset();
}

}  // namespace tessera::stages
