#pragma once

#include <string>

namespace tessera::stages {

// A name usable as one path component: '/', '\\' and control characters
// become '_', and "", "." and ".." get a leading '_'.
std::string path_component(const std::string& text);

}  // namespace tessera::stages
