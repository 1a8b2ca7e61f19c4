#include "test_data.h"

#include <stdlib.h>

#include <cstdlib>
#include <stdexcept>

namespace tessera::testing {
namespace fs = std::filesystem;

TempDir::TempDir() {
  std::string pattern = (fs::temp_directory_path() / "tessera-test-XXXXXX").string();
  if (!mkdtemp(pattern.data())) throw std::runtime_error("mkdtemp failed");
  path_ = pattern;
}

TempDir::~TempDir() {
  std::error_code ignored;
  fs::remove_all(path_, ignored);
}

std::optional<fs::path> shared_data() {
  if (const char* env = std::getenv("TESSERA_SHARED_DATA")) {
    if (fs::is_directory(env)) return fs::path(env);
    return std::nullopt;
  }
  const fs::path beside = fs::path(TESSERA_SOURCE_DIR).parent_path() / "shared" / "data";
  if (fs::is_directory(beside / "slides")) return beside;
  return std::nullopt;
}

fs::path make_slide(const fs::path& dir, const std::string& name, const examples::SyntheticSlideSpec& spec) {
  const fs::path path = dir / name;
  fs::create_directories(dir);
  examples::write_synthetic_slide(path.string(), spec);
  return path;
}

examples::SyntheticSlideSpec small_spec() {
  examples::SyntheticSlideSpec spec;
  spec.width = 2048;
  spec.height = 1536;
  spec.pen_width_px = 40;
  return spec;
}

}  // namespace tessera::testing
