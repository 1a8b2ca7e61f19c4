#include "generate_contact_sheet.h"

#include <tbb/parallel_for.h>

#include <cmath>
#include <vector>

#include "imaging/image_file.h"
#include "imaging/image_grid.h"
#include "imaging/vips_runtime.h"

namespace tessera::pipeline {
namespace fs = std::filesystem;
namespace {

constexpr size_t kContactSheetImages = 64;

}  // namespace

void write_contact_sheet(const fs::path& out, const std::map<uint64_t, std::string>& files) {
  std::vector<std::string> paths;
  for (const auto& [index, file] : files) {
    if (paths.size() == kContactSheetImages) break;
    paths.push_back((out / file).string());
  }
  if (paths.empty()) return;
  std::vector<stages::RgbImage> images(paths.size());
  tbb::parallel_for(size_t{0}, paths.size(), [&](size_t i) { images[i] = stages::read_image(paths[i]); });
  const int columns = int(std::ceil(std::sqrt(double(images.size()))));
  stages::save_png(stages::make_image_grid(images, columns), (out / "contact_sheet.png").string());
}

}  // namespace tessera::pipeline
