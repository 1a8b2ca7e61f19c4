#pragma once

#include <cstdint>
#include <filesystem>
#include <map>
#include <string>

namespace tessera::pipeline {

// OUT/contact_sheet.png: the first 64 images by index (`files`: index -> file
// relative to OUT) on a ceil(sqrt(k))-column grid, written under a temporary
// name and renamed. Nothing is written for no images. Throws what reading or
// writing an image throws.
void write_contact_sheet(const std::filesystem::path& out, const std::map<uint64_t, std::string>& files);

}  // namespace tessera::pipeline
