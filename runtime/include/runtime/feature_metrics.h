#pragma once

// The metrics `tessera evaluate` reports, computed in float64 from two sets
// of image features (docs/EVALUATE.md gives the definitions and the projects
// whose values they reproduce). LibTorch does the linear algebra behind this
// header.

#include <cstddef>
#include <cstdint>
#include <vector>

namespace tessera::runtime {

// Rows of features, row-major.
struct FeatureMatrix {
  size_t rows = 0;
  size_t dim = 0;
  std::vector<double> values;  // rows * dim

  // The rows at `indices`, in that order. Throws std::out_of_range for an index past the end.
  [[nodiscard]] FeatureMatrix select(const std::vector<size_t>& indices) const;
};

// The Fréchet distance between Gaussians fitted to `a` and `b`: their means
// and unbiased covariances (numpy.cov's). The trace of the square root of
// Σa·Σb is taken exactly, from the eigenvalues of the symmetric positive
// semi-definite √Σa Σb √Σa. Throws tessera::Error when the dimensions differ,
// or when either set has no more rows than dimensions: its covariance is then
// singular, and the message suggests KID, which has no such floor.
[[nodiscard]] double frechet_distance(const FeatureMatrix& a, const FeatureMatrix& b);

// clean-fid's and torch-fidelity's KID subsets: 100 of at most 1000 rows.
inline constexpr size_t kKidSubsets = 100;
inline constexpr size_t kKidMaxSubsetSize = 1000;

struct KernelDistance {
  double mean = 0;  // unbiased MMD² averaged over the subsets
  double std = 0;   // its standard deviation over the subsets (population, as numpy.std)
  size_t subsets = 0;
  size_t subset_size = 0;
};

// Unbiased MMD² with the cubic polynomial kernel (x·y/d + 1)³ over `subsets`
// draws, without replacement, of min(rows of a, rows of b, max_subset_size)
// rows of each set; the draws depend on `seed` only. Throws tessera::Error
// when the dimensions differ or a set has fewer than 2 rows.
[[nodiscard]] KernelDistance kernel_distance(const FeatureMatrix& real, const FeatureMatrix& synthetic,
                                             size_t subsets = kKidSubsets, size_t max_subset_size = kKidMaxSubsetSize,
                                             uint64_t seed = 0);

// The k of precision/recall/density/coverage unless told otherwise.
inline constexpr int kDefaultNearestK = 5;

struct PrecisionRecall {
  double precision = 0;  // Kynkäänniemi et al. 2019
  double recall = 0;
  double density = 0;  // Naeem et al. 2020
  double coverage = 0;
};

// Euclidean k-nearest-neighbour balls of each set (a point's own distance 0
// not counted), compared strictly (distance < radius), as
// generative-evaluation-prdc's compute_prdc does. Throws tessera::Error when
// the dimensions differ or a set has no more than k rows.
[[nodiscard]] PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& synthetic,
                                               int k = kDefaultNearestK);

struct NearestRows {
  std::vector<double> distance;  // per query row: the Euclidean distance to its nearest reference row
  std::vector<size_t> index;     // that reference row
};

// For each row of `queries`, its nearest row of `reference`. Throws
// tessera::Error when the dimensions differ or `reference` is empty.
[[nodiscard]] NearestRows nearest_rows(const FeatureMatrix& queries, const FeatureMatrix& reference);

}  // namespace tessera::runtime
