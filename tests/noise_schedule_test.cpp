#include "model/noise_schedule.h"

#include <gtest/gtest.h>

#include <cmath>
#include <stdexcept>

#include "model/safetensors.h"
#include "test_data.h"

namespace tessera::model {
namespace {

void expect_close(const std::vector<double>& got, const std::vector<double>& want, double rel, double abs,
                  const std::string& what) {
  ASSERT_EQ(got.size(), want.size()) << what;
  for (size_t i = 0; i < got.size(); ++i) {
    ASSERT_NEAR(got[i], want[i], abs + rel * std::abs(want[i])) << what << "[" << i << "]";
  }
}

// `got` rounded to float32, as LDM's buffers are, against the stored buffer.
void expect_float32(const std::vector<double>& got, const TensorView& want, double rel) {
  const auto w = want.to_float32();
  ASSERT_EQ(got.size(), w.size()) << want.name;
  for (size_t i = 0; i < got.size(); ++i) {
    const float g = static_cast<float>(got[i]);
    ASSERT_NEAR(g, w[i], rel * std::abs(w[i]) + 1e-30) << want.name << "[" << i << "]";
  }
}

TEST(BetaSchedule, LinearEndpointsAndShape) {
  const auto b = make_beta_schedule("linear", 1000, 0.0015, 0.0195);
  ASSERT_EQ(b.size(), 1000u);
  EXPECT_DOUBLE_EQ(b.front(), 0.0015);
  EXPECT_DOUBLE_EQ(b.back(), 0.0195);
  // sqrt(beta) is evenly spaced.
  const double step = std::sqrt(b[1]) - std::sqrt(b[0]);
  for (size_t i = 1; i < b.size(); ++i) ASSERT_NEAR(std::sqrt(b[i]) - std::sqrt(b[i - 1]), step, 1e-15);
  EXPECT_EQ(make_beta_schedule("linear", 1, 0.25, 0.5), std::vector<double>{0.25});
}

TEST(BetaSchedule, SqrtVariants) {
  const auto lin = make_beta_schedule("sqrt_linear", 5, 0.1, 0.5);
  expect_close(lin, {0.1, 0.2, 0.3, 0.4, 0.5}, 1e-15, 0, "sqrt_linear");
  const auto sq = make_beta_schedule("sqrt", 5, 0.1, 0.5);
  expect_close(sq, {std::sqrt(0.1), std::sqrt(0.2), std::sqrt(0.3), std::sqrt(0.4), std::sqrt(0.5)}, 1e-15, 0, "sqrt");
}

TEST(BetaSchedule, CosineIsMonotoneAndBounded) {
  const auto b = make_beta_schedule("cosine", 1000);
  ASSERT_EQ(b.size(), 1000u);
  for (size_t i = 0; i < b.size(); ++i) {
    ASSERT_GE(b[i], 0.0);
    ASSERT_LE(b[i], 0.999);
    if (i > 0) {
      ASSERT_GE(b[i], b[i - 1]) << i;
    }
  }
  EXPECT_EQ(b.back(), 0.999);  // alpha_bar reaches 0 at t = n, so the last beta is clipped
  // beta_0 = 1 - cos^2(((1/n + s)/(1+s)) pi/2) / cos^2((s/(1+s)) pi/2).
  const double s = 0.008;
  const double pi = std::acos(-1.0);
  const double a0 = std::pow(std::cos(s / (1 + s) * pi / 2), 2);
  const double a1 = std::pow(std::cos((1.0 / 1000 + s) / (1 + s) * pi / 2), 2);
  EXPECT_NEAR(b[0], 1 - a1 / a0, 1e-15);
  const auto sched = make_diffusion_schedule(b);
  for (size_t i = 1; i < sched.size(); ++i) ASSERT_LT(sched.alphas_cumprod[i], sched.alphas_cumprod[i - 1]);
  EXPECT_GT(sched.alphas_cumprod.back(), 0.0);
}

TEST(BetaSchedule, RejectsBadArguments) {
  EXPECT_THROW(make_beta_schedule("quadratic", 10), std::invalid_argument);
  EXPECT_THROW(make_beta_schedule("linear", 0), std::invalid_argument);
  EXPECT_THROW(make_diffusion_schedule({}), std::invalid_argument);
  EXPECT_THROW(make_diffusion_schedule({0.1, 1.0}), std::invalid_argument);
  EXPECT_THROW(make_diffusion_schedule({-0.1}), std::invalid_argument);
  EXPECT_THROW(make_diffusion_schedule({std::nan("")}), std::invalid_argument);
}

TEST(DiffusionSchedule, SmallCaseByHand) {
  const auto s = make_diffusion_schedule({0.1, 0.2});
  expect_close(s.alphas_cumprod, {0.9, 0.72}, 1e-15, 0, "alphas_cumprod");
  expect_close(s.alphas_cumprod_prev, {1.0, 0.9}, 0, 0, "alphas_cumprod_prev");
  expect_close(s.posterior_variance, {0.0, 0.2 * 0.1 / 0.28}, 1e-15, 0, "posterior_variance");
  EXPECT_DOUBLE_EQ(s.posterior_log_variance_clipped[0], std::log(1e-20));
  expect_close(s.posterior_mean_coef1, {0.1 / 0.1, 0.2 * std::sqrt(0.9) / 0.28}, 1e-15, 0, "coef1");
  expect_close(s.posterior_mean_coef2, {0.0, 0.1 * std::sqrt(0.8) / 0.28}, 1e-15, 0, "coef2");
  expect_close(s.sqrt_recipm1_alphas_cumprod, {std::sqrt(1 / 0.9 - 1), std::sqrt(1 / 0.72 - 1)}, 1e-14, 0, "recipm1");
  EXPECT_EQ(s.lvlb_weights[0], s.lvlb_weights[1]);
  EXPECT_TRUE(make_diffusion_schedule({0.1}).lvlb_weights.empty());
}

TEST(Ddim, UniformAndQuadTimesteps) {
  const auto t = make_ddim_timesteps("uniform", 50, 1000);
  ASSERT_EQ(t.size(), 50u);
  for (size_t i = 0; i < t.size(); ++i) ASSERT_EQ(t[i], static_cast<int64_t>(1 + 20 * i));
  EXPECT_EQ(t.back(), 981);
  // 1000 // 300 = 3 gives range(0, 1000, 3): 334 steps, as upstream.
  const auto t300 = make_ddim_timesteps("uniform", 300, 1000);
  EXPECT_EQ(t300.size(), 334u);
  EXPECT_EQ(t300.back(), 1000);
  // quad: int(linspace(0, sqrt(800), 5)^2) + 1 = [0, 50, 200, 450, 800] + 1.
  EXPECT_EQ(make_ddim_timesteps("quad", 5, 1000), (std::vector<int64_t>{1, 51, 201, 451, 801}));
  EXPECT_EQ(make_ddim_timesteps("quad", 1, 1000), std::vector<int64_t>{1});
  EXPECT_THROW(make_ddim_timesteps("uniform", 2000, 1000), std::invalid_argument);
  EXPECT_THROW(make_ddim_timesteps("uniform", 0, 1000), std::invalid_argument);
  EXPECT_THROW(make_ddim_timesteps("linear", 10, 1000), std::invalid_argument);
}

TEST(Ddim, SamplingParameters) {
  const std::vector<double> ac = {0.9, 0.8, 0.5, 0.3};
  const auto p = make_ddim_sampling_parameters(ac, {1, 3}, 1.0);
  EXPECT_EQ(p.alphas, (std::vector<double>{0.8, 0.3}));
  EXPECT_EQ(p.alphas_prev, (std::vector<double>{0.9, 0.8}));  // the first previous alpha is ac[0], not 1
  EXPECT_NEAR(p.sigmas[0], std::sqrt((0.1 / 0.2) * (1 - 0.8 / 0.9)), 1e-15);
  EXPECT_NEAR(p.sigmas[1], std::sqrt((0.2 / 0.7) * (1 - 0.3 / 0.8)), 1e-15);
  EXPECT_EQ(make_ddim_sampling_parameters(ac, {1, 3}, 0.0).sigmas, (std::vector<double>{0.0, 0.0}));
  // uniform with n_ddim == n_train yields t = n_train, outside the schedule (upstream raises too).
  EXPECT_THROW(make_ddim_sampling_parameters(ac, make_ddim_timesteps("uniform", 4, 4), 0.0), std::invalid_argument);
  EXPECT_THROW(make_ddim_sampling_parameters(ac, {}, 0.0), std::invalid_argument);
  EXPECT_THROW(make_ddim_sampling_parameters(ac, {-1}, 0.0), std::invalid_argument);
}

TEST(SharedFixtures, MatchesLatentDiffusionSchedule) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const auto file = SafetensorsFile::open((data / "parity/schedule.safetensors").string());
  auto tensor = [&](const std::string& name) -> const TensorView& {
    const TensorView* t = file.find(name);
    if (!t) throw std::runtime_error("schedule.safetensors has no " + name);
    return *t;
  };

  const auto betas = make_beta_schedule("linear", 1000, 0.0015, 0.0195);
  expect_close(betas, tensor("betas_float64").to_float64(), 1e-12, 0, "betas_float64");
  const auto s = make_diffusion_schedule(betas);
  expect_close(s.alphas_cumprod, tensor("alphas_cumprod_float64").to_float64(), 1e-12, 0, "alphas_cumprod_float64");

  expect_float32(s.betas, tensor("betas"), 1e-6);
  expect_float32(s.alphas_cumprod, tensor("alphas_cumprod"), 1e-6);
  expect_float32(s.alphas_cumprod_prev, tensor("alphas_cumprod_prev"), 1e-6);
  expect_float32(s.sqrt_alphas_cumprod, tensor("sqrt_alphas_cumprod"), 1e-6);
  expect_float32(s.sqrt_one_minus_alphas_cumprod, tensor("sqrt_one_minus_alphas_cumprod"), 1e-6);
  expect_float32(s.log_one_minus_alphas_cumprod, tensor("log_one_minus_alphas_cumprod"), 1e-6);
  expect_float32(s.sqrt_recip_alphas_cumprod, tensor("sqrt_recip_alphas_cumprod"), 1e-6);
  expect_float32(s.sqrt_recipm1_alphas_cumprod, tensor("sqrt_recipm1_alphas_cumprod"), 1e-6);
  expect_float32(s.posterior_variance, tensor("posterior_variance"), 1e-6);
  expect_float32(s.posterior_log_variance_clipped, tensor("posterior_log_variance_clipped"), 1e-6);
  expect_float32(s.posterior_mean_coef1, tensor("posterior_mean_coef1"), 1e-6);
  expect_float32(s.posterior_mean_coef2, tensor("posterior_mean_coef2"), 1e-6);
  // LDM computes lvlb_weights in float32 from the float32 buffers, so it
  // carries a few float32 roundings more than the others.
  expect_float32(s.lvlb_weights, tensor("lvlb_weights"), 1e-5);

  const auto steps = make_ddim_timesteps("uniform", 50, 1000);
  EXPECT_EQ(steps, tensor("ddim_timesteps").to_int64());
  // DDIMSampler works from the model's float32 alphas_cumprod buffer.
  const auto p = make_ddim_sampling_parameters(tensor("alphas_cumprod").to_float64(), steps, 1.0);
  expect_float32(p.alphas, tensor("ddim_alphas"), 1e-6);
  expect_float32(p.alphas_prev, tensor("ddim_alphas_prev"), 1e-6);
  expect_float32(p.sigmas, tensor("ddim_sigmas_eta1"), 1e-6);
  std::vector<double> sqrt_one_minus(p.alphas.size());
  for (size_t i = 0; i < p.alphas.size(); ++i) sqrt_one_minus[i] = std::sqrt(1 - p.alphas[i]);
  expect_float32(sqrt_one_minus, tensor("ddim_sqrt_one_minus_alphas"), 1e-6);
}

}  // namespace
}  // namespace tessera::model
