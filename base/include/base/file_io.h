#pragma once

// Whole files: reports, templates, manifests, settings, copied configs.

#include <filesystem>
#include <string>
#include <string_view>

namespace tessera {

// Throws tessera::Error starting with the path ("PATH: cannot open").
std::string read_file(const std::filesystem::path& path);
void write_file(const std::filesystem::path& path, std::string_view bytes);
// Written beside `path` under a temporary name, then renamed: after a crash
// the file is whole or absent, never half-written.
void write_file_atomically(const std::filesystem::path& path, std::string_view bytes);

}  // namespace tessera
