#pragma once

// A feature extractor for `tessera evaluate`: a TorchScript file
// (torch.jit.save) and the preprocessing its inputs need. The defaults are
// the calling convention of NVlabs' inception-2015-12-05.pt, the Inception of
// StyleGAN's metrics and clean-fid: an N x 3 x H x W batch of 0..255 values,
// resized inside, called as forward(x, return_features=True). LibTorch stays
// behind this header.

#include <cstddef>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "imaging/rgb_image.h"
#include "runtime/feature_metrics.h"
#include "store/model_record.h"

namespace tessera::runtime {

struct ExtractorPreprocessing {
  // Images are resized to this square side before the call; 0 passes them
  // as they are, for an extractor that resizes inside. Default: 0.
  int input_size = 0;
  // "bilinear", "bicubic", "nearest" or "area" (align_corners false). Default: bilinear.
  std::string resize = "bilinear";
  // Pixel values span 0..value_max: 255 or 1. Default: 255.
  double value_max = 255;
  // Per channel, applied after scaling: (x - mean) / std. Default: none.
  std::vector<double> mean;
  std::vector<double> std;
  // Keyword arguments of forward, as name=value with value true, false, an
  // integer or a number. Default: return_features=true when forward
  // declares it, none otherwise.
  std::vector<std::string> arguments;
  // Which output holds the features: "" for the result itself (or the first
  // element of a tuple), an index into a tuple, or a key of a dict. Default: "".
  std::string output;
};

struct FeatureExtractorOptions {
  std::string path;  // a TorchScript file
  ExtractorPreprocessing preprocessing;
  std::string device = "auto";  // auto | cpu | cuda | cuda:N
  int threads = 0;              // CPU intra-op threads; 0 = one per core
};

class FeatureExtractor {
 public:
  // Loads the file with torch::jit::load. Throws tessera::Error naming the
  // file when it is missing or not TorchScript, or naming the setting that is
  // invalid (a resize filter, mean/std of other than 3 values, an argument
  // forward does not declare).
  explicit FeatureExtractor(const FeatureExtractorOptions& options);
  ~FeatureExtractor();
  FeatureExtractor(const FeatureExtractor&) = delete;
  FeatureExtractor& operator=(const FeatureExtractor&) = delete;

  // A fingerprint of the file's bytes and the preprocessing: features of one
  // id are comparable, and are what the store caches under it.
  [[nodiscard]] const std::string& id() const;
  [[nodiscard]] const std::string& path() const;
  // The preprocessing and arguments as the id covers them, one line.
  [[nodiscard]] const std::string& description() const;
  // The record registered in a store that caches its features; `dim` is the
  // width of its features.
  [[nodiscard]] store::ModelRecord model_record(size_t dim) const;

  // The features of `images` (N x D). Throws tessera::Error naming the file
  // when the call fails or its output is not N x D (an N x D x 1 x 1 output,
  // a pooled map, counts as N x D), or when images of a batch differ in size
  // and no input size is set.
  [[nodiscard]] FeatureMatrix extract(const std::vector<stages::RgbImage>& images);

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace tessera::runtime
