#pragma once

// A checkpoint file's checksum, kept beside it as "<file>.xxh128": the
// XXH3-128 digest of the whole file in hex, followed by the file's name (the
// line `xxh128sum -c` checks). Written after the file by whoever writes a
// checkpoint (LDM and VAE training), verified before anything reads one: on
// --resume, and whenever a model is loaded from a file that has one (generate
// sampling from a run's checkpoint). A file without a checksum (written before
// tessera kept them, or a run stopped between the file and its checksum) is
// read as it is; resuming from one logs a warning.

#include <filesystem>
#include <string>

namespace tessera::runtime {

// "<file>.xxh128".
std::filesystem::path checksum_path(const std::filesystem::path& file);

// The XXH3-128 of the file's bytes in 32 hex digits, read in blocks so that a
// file of any size takes one buffer. Throws tessera::Error naming the file
// when it cannot be read.
std::string file_digest(const std::filesystem::path& file);

// Writes `file`'s checksum beside it, atomically. Throws tessera::Error naming
// the file when it cannot be read or the checksum written.
void write_checksum(const std::filesystem::path& file);

// False when `file` has no checksum; true when it matches. Throws
// tessera::Error naming the file when it does not match (the file changed
// after it was written: damaged on disk or in a copy) or cannot be read.
bool verify_checksum(const std::filesystem::path& file);

}  // namespace tessera::runtime
