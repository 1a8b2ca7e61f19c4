#pragma once

// Reads the members of a tar archive (ustar, with pax `path`/`size` records
// and GNU long names): WebDataset shards, whoever wrote them. The listing
// reads headers only, seeking past the data, so a shard of many gigabytes
// is listed in a moment; a member's bytes are read on demand.

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace tessera::stages {

struct TarMember {
  std::string name;
  uint64_t offset = 0;  // of its data in the archive
  uint64_t size = 0;
};

// The regular files of the archive, in archive order; directories, links and
// other entries are skipped. Throws tessera::Error naming the archive and the
// byte offset of a header whose checksum fails, a member that runs past the
// end of the file, or an archive that is not tar.
std::vector<TarMember> list_tar_members(const std::filesystem::path& archive);

// One member's bytes. Throws tessera::Error naming the archive and member
// when they cannot be read.
std::string read_tar_member(const std::filesystem::path& archive, const TarMember& member);

}  // namespace tessera::stages
