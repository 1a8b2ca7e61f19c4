#include "model/attention.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <limits>

#include "parity_support.h"

namespace tessera::model {
namespace {

// Exact to float64 rounding: every query row is computed the same way in or
// out of a chunk.
constexpr double kExact = 1e-12;
// 37 queries in chunks of 5: eight chunks, the last one short.
constexpr int64_t kQueries = 37, kKeys = 29, kChunkRows = 5;

struct Inputs {
  torch::Tensor q, k, v;
};

Inputs random_inputs(bool requires_grad) {
  torch::manual_seed(13);
  const auto options = torch::TensorOptions().dtype(torch::kFloat64).requires_grad(requires_grad);
  return {torch::randn({2, 3, kQueries, 8}, options), torch::randn({2, 3, kKeys, 8}, options),
          torch::randn({2, 3, kKeys, 6}, options)};
}

// Blocks a third of the (query, key) pairs of the first batch item.
torch::Tensor random_mask() {
  torch::Tensor mask = torch::zeros({2, 1, kQueries, kKeys}, torch::kFloat64);
  const torch::Tensor blocked = torch::rand({kQueries, kKeys}, torch::kFloat64) < 1.0 / 3;
  mask[0][0].masked_fill_(blocked, std::numeric_limits<double>::lowest());
  return mask;
}

TEST(AttentionTest, ChunkedForwardMatchesTheWholeMatrix) {
  const Inputs in = random_inputs(false);
  const torch::Tensor mask = random_mask();
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product_in_chunks(in.q, in.k, in.v, torch::Tensor(), kChunkRows),
                                  scaled_dot_product_math(in.q, in.k, in.v)),
            kExact);
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product_in_chunks(in.q, in.k, in.v, mask, kChunkRows),
                                  scaled_dot_product_math(in.q, in.k, in.v, mask)),
            kExact);
  // A mask that broadcasts over the queries (CLIP's padding mask) is shared by every chunk.
  const torch::Tensor key_mask = mask.narrow(2, 0, 1);
  EXPECT_LE(testing::max_abs_diff(scaled_dot_product_in_chunks(in.q, in.k, in.v, key_mask, kChunkRows),
                                  scaled_dot_product_math(in.q, in.k, in.v, key_mask)),
            kExact);
}

TEST(AttentionTest, ChunkedGradientsMatchTheWholeMatrix) {
  const torch::Tensor mask = random_mask();
  const torch::Tensor upstream = torch::randn({2, 3, kQueries, 6}, torch::kFloat64);
  auto gradients = [&](bool chunked) {
    const Inputs in = random_inputs(true);
    const torch::Tensor out = chunked ? scaled_dot_product_in_chunks(in.q, in.k, in.v, mask, kChunkRows)
                                      : scaled_dot_product_math(in.q, in.k, in.v, mask);
    (out * upstream).sum().backward();
    return std::vector<torch::Tensor>{in.q.grad(), in.k.grad(), in.v.grad()};
  };
  const auto chunked = gradients(true), whole = gradients(false);
  for (size_t i = 0; i < whole.size(); ++i) {
    ASSERT_TRUE(chunked[i].defined()) << "input " << i;
    EXPECT_LE(testing::max_abs_diff(chunked[i], whole[i]), kExact) << "input " << i;
  }
}

TEST(AttentionTest, GradientsFlowOnlyToInputsThatWantThem) {
  torch::manual_seed(7);
  const torch::Tensor q = torch::randn({1, 2, kQueries, 4}, torch::kFloat64);
  const torch::Tensor k = torch::randn({1, 2, kKeys, 4}, torch::kFloat64).requires_grad_();
  const torch::Tensor v = torch::randn({1, 2, kKeys, 4}, torch::kFloat64);
  scaled_dot_product_in_chunks(q, k, v, torch::Tensor(), kChunkRows).sum().backward();
  const torch::Tensor k_whole = k.detach().clone().requires_grad_();
  scaled_dot_product_math(q, k_whole, v).sum().backward();
  EXPECT_LE(testing::max_abs_diff(k.grad(), k_whole.grad()), kExact);
}

TEST(AttentionTest, QueryRowsKeepOneChunksScoresWithinTheBudget) {
  // tiny-kl's mid block on 256-px tiles at --batch 16: 128 x 128 tokens, one
  // head, fp32 scores of 1 MiB per query row.
  const int64_t tokens = 128 * 128;
  const int64_t rows = attention_query_rows(16, tokens, tokens, 4);
  EXPECT_EQ(rows, kAttentionScoreBudgetBytes / (int64_t{16} * tokens * 4));
  EXPECT_LE(rows * 16 * tokens * 4, kAttentionScoreBudgetBytes);
  EXPECT_GT((rows + 1) * 16 * tokens * 4, kAttentionScoreBudgetBytes);
  // Never fewer than one row, never more than there are queries.
  EXPECT_EQ(attention_query_rows(16, tokens, tokens, 4, /*budget_bytes=*/1), 1);
  EXPECT_EQ(attention_query_rows(2, 77, 77, 4), 77);
  EXPECT_THROW(scaled_dot_product_in_chunks(torch::zeros({1, 1, 2, 2}), torch::zeros({1, 1, 2, 2}),
                                            torch::zeros({1, 1, 2, 2}), torch::Tensor(), 0),
               std::invalid_argument);
}

}  // namespace
}  // namespace tessera::model
