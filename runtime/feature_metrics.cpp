#include "runtime/feature_metrics.h"

#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <numeric>
#include <random>
#include <stdexcept>
#include <string>

#include "base/error.h"

namespace tessera::runtime {
namespace {

// Rows of real features per block of a distance matrix: a block of 1024 x
// 10k distances is 80 MB in float64, where the whole matrix would be 800 MB.
constexpr int64_t kDistanceBlockRows = 1024;

// A view of the matrix's values; `m` must outlive it.
torch::Tensor as_tensor(const FeatureMatrix& m) {
  return torch::from_blob(const_cast<double*>(m.values.data()), {int64_t(m.rows), int64_t(m.dim)}, torch::kFloat64);
}

void check_dims(const FeatureMatrix& a, const FeatureMatrix& b, const char* metric) {
  if (a.dim != b.dim) {
    throw Error(std::string(metric) + ": features of " + std::to_string(a.dim) + " and " + std::to_string(b.dim) +
                " dimensions cannot be compared");
  }
}

// Euclidean distances between the rows of a and b, as sqrt(|x|² + |y|² - 2 x·y)
// clamped at 0: scikit-learn's pairwise_distances, which the PRDC reference uses.
torch::Tensor distances(const torch::Tensor& a, const torch::Tensor& b, const torch::Tensor& b_norms) {
  const auto a_norms = (a * a).sum(1, /*keepdim=*/true);
  return (a_norms + b_norms.unsqueeze(0) - 2 * a.matmul(b.t())).clamp_min_(0).sqrt_();
}

// Each row's distance to its k-th nearest other row of the same set.
torch::Tensor kth_neighbour_radii(const torch::Tensor& x, int k) {
  const auto norms = (x * x).sum(1);
  const int64_t n = x.size(0);
  auto radii = torch::empty({n}, torch::kFloat64);
  for (int64_t begin = 0; begin < n; begin += kDistanceBlockRows) {
    const int64_t end = std::min(n, begin + kDistanceBlockRows);
    auto d = distances(x.slice(0, begin, end), x, norms);
    d.diagonal(/*offset=*/begin).zero_();  // a point's distance to itself is 0, whatever rounding says
    // The k + 1 smallest include the point itself.
    radii.slice(0, begin, end).copy_(std::get<0>(d.topk(k + 1, 1, /*largest=*/false, /*sorted=*/true)).select(1, k));
  }
  return radii;
}

// (a·b/d + 1)³ for every pair of rows, in place on one buffer.
torch::Tensor cubic_kernel(const torch::Tensor& a, const torch::Tensor& b, double d) {
  auto k = a.matmul(b.t()).div_(d).add_(1);
  return k.mul_(k.square());
}

double off_diagonal_sum(const torch::Tensor& k) { return k.sum().item<double>() - k.diagonal().sum().item<double>(); }

}  // namespace

FeatureMatrix FeatureMatrix::select(const std::vector<size_t>& indices) const {
  FeatureMatrix out;
  out.rows = indices.size();
  out.dim = dim;
  out.values.reserve(indices.size() * dim);
  for (const size_t i : indices) {
    if (i >= rows) throw std::out_of_range("feature row " + std::to_string(i) + " of " + std::to_string(rows));
    out.values.insert(out.values.end(), values.begin() + i * dim, values.begin() + (i + 1) * dim);
  }
  return out;
}

double frechet_distance(const FeatureMatrix& a, const FeatureMatrix& b) {
  check_dims(a, b, "FID");
  for (const FeatureMatrix* m : {&a, &b}) {
    if (m->rows <= m->dim) {
      throw Error("FID: " + std::to_string(m->rows) + " samples of " + std::to_string(m->dim) +
                  "-dimensional features give a singular covariance; FID needs more samples than dimensions. "
                  "Draw more samples, or compare by KID, which has no such floor");
    }
  }
  torch::NoGradGuard no_grad;
  const auto x = as_tensor(a);
  const auto y = as_tensor(b);
  const auto mean_x = x.mean(0);
  const auto mean_y = y.mean(0);
  const auto cov = [](const torch::Tensor& m, const torch::Tensor& mean) {
    const auto centred = m - mean;
    return centred.t().matmul(centred) / double(m.size(0) - 1);
  };
  const auto sigma_x = cov(x, mean_x);
  const auto sigma_y = cov(y, mean_y);
  // √Σx from its eigendecomposition; tiny negative eigenvalues are rounding.
  const auto [values_x, vectors_x] = torch::linalg::eigh(sigma_x, "L");
  const auto root_x = vectors_x.matmul(torch::diag(values_x.clamp_min(0).sqrt())).matmul(vectors_x.t());
  auto product = root_x.matmul(sigma_y).matmul(root_x);
  product = (product + product.t()) / 2;  // symmetric up to rounding; eigvalsh reads one triangle
  const double trace_root = torch::linalg::eigvalsh(product, "L").clamp_min(0).sqrt().sum().item<double>();
  const double mean_term = (mean_x - mean_y).pow(2).sum().item<double>();
  return mean_term + sigma_x.trace().item<double>() + sigma_y.trace().item<double>() - 2 * trace_root;
}

KernelDistance kernel_distance(const FeatureMatrix& real, const FeatureMatrix& synthetic, size_t subsets,
                               size_t max_subset_size, uint64_t seed) {
  check_dims(real, synthetic, "KID");
  const size_t m = std::min({real.rows, synthetic.rows, max_subset_size});
  if (m < 2) throw Error("KID needs at least 2 samples of each set, not " + std::to_string(m));
  if (subsets == 0) throw Error("KID needs at least one subset");
  torch::NoGradGuard no_grad;
  const auto x_all = as_tensor(synthetic);
  const auto y_all = as_tensor(real);
  const double d = double(real.dim);
  std::mt19937_64 random(seed);
  const auto draw = [&](size_t n) {
    std::vector<int64_t> order(n);
    std::iota(order.begin(), order.end(), 0);
    if (m < n) std::shuffle(order.begin(), order.end(), random);
    order.resize(m);
    return torch::tensor(order, torch::kInt64);
  };
  // When both sets are the subset size, every draw is the whole of each set
  // (in another order, which the sums do not see): one subset gives them all.
  const bool whole_sets = m == real.rows && m == synthetic.rows;
  std::vector<double> values;
  values.reserve(subsets);
  for (size_t s = 0; s < (whole_sets ? 1 : subsets); ++s) {
    const auto x = x_all.index_select(0, draw(synthetic.rows));
    const auto y = y_all.index_select(0, draw(real.rows));
    const double mm = double(m);
    const double within = off_diagonal_sum(cubic_kernel(x, x, d)) + off_diagonal_sum(cubic_kernel(y, y, d));
    values.push_back(within / (mm * (mm - 1)) - 2 * cubic_kernel(x, y, d).sum().item<double>() / (mm * mm));
  }
  values.resize(subsets, values.front());
  KernelDistance result;
  result.subsets = subsets;
  result.subset_size = m;
  result.mean = std::accumulate(values.begin(), values.end(), 0.0) / double(values.size());
  double squares = 0;
  for (const double v : values) squares += (v - result.mean) * (v - result.mean);
  result.std = std::sqrt(squares / double(values.size()));
  return result;
}

PrecisionRecall precision_recall(const FeatureMatrix& real, const FeatureMatrix& synthetic, int k) {
  check_dims(real, synthetic, "precision/recall");
  if (k < 1) throw Error("precision/recall: k must be at least 1, not " + std::to_string(k));
  for (const FeatureMatrix* m : {&real, &synthetic}) {
    if (m->rows <= size_t(k)) {
      throw Error("precision/recall with k = " + std::to_string(k) + " needs more than " + std::to_string(k) +
                  " samples of each set, not " + std::to_string(m->rows));
    }
  }
  torch::NoGradGuard no_grad;
  const auto x = as_tensor(real);
  const auto y = as_tensor(synthetic);
  const auto real_radii = kth_neighbour_radii(x, k);
  const auto synthetic_radii = kth_neighbour_radii(y, k);
  const auto y_norms = (y * y).sum(1);
  // One pass over blocks of real rows: how many real balls hold each
  // synthetic point, and for each real point whether a synthetic point is
  // inside its ball, and whether it is inside a synthetic ball.
  auto balls_holding = torch::zeros({int64_t(synthetic.rows)}, torch::kInt64);
  int64_t covered = 0, recalled = 0;
  for (int64_t begin = 0; begin < int64_t(real.rows); begin += kDistanceBlockRows) {
    const int64_t end = std::min(int64_t(real.rows), begin + kDistanceBlockRows);
    const auto d = distances(x.slice(0, begin, end), y, y_norms);
    const auto inside_real = d < real_radii.slice(0, begin, end).unsqueeze(1);
    balls_holding += inside_real.sum(0);
    covered += (std::get<0>(d.min(1)) < real_radii.slice(0, begin, end)).sum().item<int64_t>();
    recalled += (d < synthetic_radii.unsqueeze(0)).any(1).sum().item<int64_t>();
  }
  PrecisionRecall r;
  r.precision = (balls_holding > 0).to(torch::kFloat64).mean().item<double>();
  r.recall = double(recalled) / double(real.rows);
  r.density = balls_holding.to(torch::kFloat64).mean().item<double>() / double(k);
  r.coverage = double(covered) / double(real.rows);
  return r;
}

NearestRows nearest_rows(const FeatureMatrix& queries, const FeatureMatrix& reference) {
  check_dims(queries, reference, "nearest neighbours");
  if (reference.rows == 0) throw Error("nearest neighbours: the reference set is empty");
  torch::NoGradGuard no_grad;
  const auto q = as_tensor(queries);
  const auto r = as_tensor(reference);
  const auto r_norms = (r * r).sum(1);
  NearestRows out;
  out.distance.resize(queries.rows);
  out.index.resize(queries.rows);
  for (int64_t begin = 0; begin < int64_t(queries.rows); begin += kDistanceBlockRows) {
    const int64_t end = std::min(int64_t(queries.rows), begin + kDistanceBlockRows);
    const auto [values, indices] = distances(q.slice(0, begin, end), r, r_norms).min(1);
    const auto v = values.contiguous();
    const auto ix = indices.contiguous();
    for (int64_t i = begin; i < end; ++i) {
      out.distance[size_t(i)] = v.data_ptr<double>()[i - begin];
      out.index[size_t(i)] = size_t(ix.data_ptr<int64_t>()[i - begin]);
    }
  }
  return out;
}

}  // namespace tessera::runtime
