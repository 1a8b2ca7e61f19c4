#pragma once

#include <cstddef>
#include <string>

namespace tessera::stages {

// The longest name of one path component that the file systems a dataset is
// written to accept (NAME_MAX of ext4, XFS, btrfs and tmpfs), in bytes.
inline constexpr size_t kPathComponentBytes = 255;

// A name usable as one path component: '/', '\\' and control characters
// become '_', and "", "." and ".." get a leading '_'. `reserve` is what the
// caller appends (an extension, a temporary suffix): a name that would then
// be longer than kPathComponentBytes keeps its first whole UTF-8 characters
// and ends in '~' and the 16 hex digits of XXH3-64 of `text`, so that it fits
// and distinct texts keep distinct names.
std::string path_component(const std::string& text, size_t reserve = 0);

}  // namespace tessera::stages
