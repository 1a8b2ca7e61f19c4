#pragma once

// Whole files: reports, templates, manifests, settings, copied configs.

#include <filesystem>
#include <string>
#include <string_view>

namespace tessera {

// Throws tessera::Error starting with the path ("PATH: cannot open").
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view bytes);
// Written beside `path` under a temporary name (partial_path), then renamed:
// after a crash the file is whole or absent, never half-written. A write that
// fails removes its temporary.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);
// The temporary name a file is written under before it is renamed to `path`:
// PATH followed by kPartialSuffix.
inline constexpr std::string_view kPartialSuffix = ".partial";
std::filesystem::path partial_path(const std::filesystem::path& path);

}  // namespace tessera
