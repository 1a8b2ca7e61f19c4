#include "runtime/example_extractor.h"

#include <torch/script.h>
#include <torch/torch.h>

#include <string>

#include "base/error.h"
#include "base/file_io.h"

namespace tessera::runtime {
namespace {

// forward(x, return_features=True) as NVlabs' Inception: x is N x 3 x H x W
// of 0..255 values, uint8 or float; resized and normalised inside.
std::string forward_source() {
  const std::string side = std::to_string(kExampleExtractorSide);
  return R"(
def forward(self, x, return_features: bool = False):
    x = x.float()
    x = torch.upsample_bilinear2d(x, [)" +
         side + ", " + side + R"(], False, None)
    x = (x - 128.0) / 128.0
    h = torch.relu(torch.conv2d(x, self.conv1, None, [2, 2], [1, 1]))
    h = torch.relu(torch.conv2d(h, self.conv2, None, [2, 2], [1, 1]))
    h = torch.relu(torch.conv2d(h, self.conv3, None, [2, 2], [1, 1]))
    features = torch.mean(h, [2, 3])
    if return_features:
        return features
    return torch.matmul(features, self.head)
)";
}

}  // namespace

void write_example_extractor(const std::filesystem::path& path, uint64_t seed) {
  torch::NoGradGuard no_grad;
  torch::manual_seed(seed);
  torch::jit::Module module("TesseraExampleExtractor");
  const auto weights = [](int64_t out, int64_t in) {
    return torch::randn({out, in, 3, 3}) * std::sqrt(2.0 / double(in * 9));  // He initialisation
  };
  module.register_parameter("conv1", weights(16, 3), false);
  module.register_parameter("conv2", weights(32, 16), false);
  module.register_parameter("conv3", weights(kExampleExtractorDim, 32), false);
  module.register_parameter("head", torch::randn({kExampleExtractorDim, 10}) / 8.0, false);
  module.define(forward_source());
  const auto partial = partial_path(path);
  try {
    module.save(partial.string());
    std::filesystem::rename(partial, path);
  } catch (const std::exception& e) {
    std::error_code ignored;
    std::filesystem::remove(partial, ignored);
    throw Error(path.string() + ": cannot write the example extractor: " + e.what());
  }
}

}  // namespace tessera::runtime
