#include "model/sampler.h"

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <limits>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "model/autoencoder.h"
#include "model/clip_text.h"
#include "model/init.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/unet.h"
#include "test_support.h"

namespace tessera::model {
namespace {

// LDM's linear schedule of the parity fixtures (and PathLDM): 0.0015-0.0195.
DiffusionSchedule ldm_schedule(int steps = 1000) {
  return make_diffusion_schedule(make_beta_schedule("linear", steps, 0.0015, 0.0195));
}

double max_abs_diff(const torch::Tensor& actual, const torch::Tensor& expected) {
  if (actual.sizes() != expected.sizes()) return std::numeric_limits<double>::infinity();
  return (actual.to(torch::kFloat64) - expected.to(torch::kFloat64)).abs().max().item<double>();
}

// Max |actual - expected| / max(|expected|, tiny).
double max_rel_diff(const torch::Tensor& actual, const std::vector<float>& expected) {
  if (actual.numel() != static_cast<int64_t>(expected.size())) return std::numeric_limits<double>::infinity();
  const torch::Tensor values = actual.to(torch::kCPU, torch::kFloat64).contiguous();
  double worst = 0.0;
  for (size_t i = 0; i < expected.size(); ++i) {
    const double e = expected[i];
    const double diff = std::abs(values[static_cast<int64_t>(i)].item<double>() - e);
    worst = std::max(worst, diff / std::max(std::abs(e), 1e-30));
  }
  return worst;
}

torch::Tensor batch_timesteps(std::vector<int64_t> values) { return torch::tensor(values, torch::kInt64); }

// A denoiser that knows the clean sample x0 and returns the exact ε (or v) of
// x_t under the process's float32 buffers.
class Oracle {
 public:
  Oracle(const DiffusionProcess& process, torch::Tensor x0) : process_(process), x0_(std::move(x0)) {}

  torch::Tensor operator()(const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& /*context*/) {
    ++calls;
    const torch::Tensor a = process_.extract(process_.alphas_cumprod(), t, x);
    const torch::Tensor sqrt_a = a.sqrt(), sqrt_one_minus_a = (1.0 - a).sqrt();
    last_eps = (x - sqrt_a * x0_) / sqrt_one_minus_a;
    if (process_.parameterization() == Parameterization::kEps) return last_eps;
    return sqrt_a * last_eps - sqrt_one_minus_a * x0_;
  }

  int calls = 0;
  torch::Tensor last_eps;

 private:
  const DiffusionProcess& process_;
  torch::Tensor x0_;
};

// A context-dependent test double: output = 0.1 x + mean(context) per sample.
torch::Tensor context_denoiser(const torch::Tensor& x, const torch::Tensor& /*t*/, const torch::Tensor& context) {
  const torch::Tensor shift = context.reshape({context.size(0), -1}).mean(1).reshape({-1, 1, 1, 1});
  return 0.1 * x + shift;
}

class SamplerTest : public ::testing::Test {
 protected:
  void SetUp() override { at::set_num_threads(2); }
};

TEST_F(SamplerTest, ProcessBuffersAreFloat32OnTheDevice) {
  const DiffusionSchedule schedule = ldm_schedule();
  const DiffusionProcess process(schedule);
  EXPECT_EQ(process.num_timesteps(), 1000);
  for (const torch::Tensor* buffer :
       {&process.betas(), &process.alphas_cumprod(), &process.alphas_cumprod_prev(), &process.sqrt_alphas_cumprod(),
        &process.sqrt_one_minus_alphas_cumprod(), &process.log_one_minus_alphas_cumprod(),
        &process.sqrt_recip_alphas_cumprod(), &process.sqrt_recipm1_alphas_cumprod(), &process.posterior_variance(),
        &process.posterior_log_variance_clipped(), &process.posterior_mean_coef1(), &process.posterior_mean_coef2()}) {
    EXPECT_EQ(buffer->scalar_type(), torch::kFloat32);
    EXPECT_EQ(buffer->sizes(), (std::vector<int64_t>{1000}));
    EXPECT_TRUE(buffer->device().is_cpu());
  }
  EXPECT_EQ(process.alphas_cumprod()[10].item<float>(), static_cast<float>(schedule.alphas_cumprod[10]));
  EXPECT_EQ(process.alphas_cumprod_values()[10], static_cast<double>(static_cast<float>(schedule.alphas_cumprod[10])));
  EXPECT_THROW(DiffusionProcess(DiffusionSchedule{}), std::invalid_argument);
}

TEST_F(SamplerTest, ExtractBroadcastsAndValidates) {
  const DiffusionProcess process(ldm_schedule());
  const torch::Tensor like = torch::zeros({3, 2, 4, 4});
  const torch::Tensor coef = process.extract(process.betas(), batch_timesteps({0, 5, 999}), like);
  EXPECT_EQ(coef.sizes(), (std::vector<int64_t>{3, 1, 1, 1}));
  EXPECT_EQ(coef[1].item<float>(), process.betas()[5].item<float>());
  EXPECT_THROW(process.extract(process.betas(), batch_timesteps({1000, 0, 0}), like), std::invalid_argument);
  EXPECT_THROW(process.extract(process.betas(), batch_timesteps({-1, 0, 0}), like), std::invalid_argument);
  EXPECT_THROW(process.extract(process.betas(), batch_timesteps({1, 2}), like), std::invalid_argument);
  EXPECT_THROW(process.extract(process.betas(), torch::zeros({3}), like), std::invalid_argument);
}

TEST_F(SamplerTest, QSampleAndTargets) {
  const DiffusionProcess eps_process(ldm_schedule(), Parameterization::kEps);
  const DiffusionProcess v_process(ldm_schedule(), Parameterization::kV);
  auto generator = make_cpu_generator(7);
  const torch::Tensor x0 = torch::randn({4, 3, 5, 5}, generator);
  const torch::Tensor noise = torch::randn({4, 3, 5, 5}, generator);
  const torch::Tensor t = batch_timesteps({0, 1, 500, 999});

  const torch::Tensor x_t = eps_process.q_sample(x0, t, noise);
  for (int64_t b = 0; b < 4; ++b) {
    const int64_t step = t[b].item<int64_t>();
    const double a = eps_process.alphas_cumprod()[step].item<float>();
    const torch::Tensor expected = std::sqrt(a) * x0[b] + std::sqrt(1.0 - a) * noise[b];
    EXPECT_LE(max_abs_diff(x_t[b], expected), 1e-6) << "t " << step;
  }
  EXPECT_TRUE(eps_process.training_target(x0, t, noise).equal(noise));
  const torch::Tensor v = v_process.training_target(x0, t, noise);
  const torch::Tensor sqrt_a = v_process.extract(v_process.sqrt_alphas_cumprod(), t, x0);
  const torch::Tensor sqrt_one_minus_a = v_process.extract(v_process.sqrt_one_minus_alphas_cumprod(), t, x0);
  EXPECT_LE(max_abs_diff(v, sqrt_a * noise - sqrt_one_minus_a * x0), 1e-6);
}

TEST_F(SamplerTest, EpsAndVConversionsRoundTrip) {
  auto generator = make_cpu_generator(11);
  const torch::Tensor x0 = torch::randn({5, 4, 6, 6}, generator);
  const torch::Tensor noise = torch::randn({5, 4, 6, 6}, generator);
  const torch::Tensor t = batch_timesteps({0, 10, 300, 700, 999});
  for (Parameterization p : {Parameterization::kEps, Parameterization::kV}) {
    const DiffusionProcess process(ldm_schedule(), p);
    const torch::Tensor x_t = process.q_sample(x0, t, noise);
    const DenoisedPrediction prediction = process.predict_x0_and_eps(process.training_target(x0, t, noise), x_t, t);
    const double x0_diff = max_abs_diff(prediction.x0, x0);
    const double eps_diff = max_abs_diff(prediction.eps, noise);
    std::printf("  %s: x0 round trip %.3g, eps round trip %.3g\n", p == Parameterization::kEps ? "eps" : "v", x0_diff,
                eps_diff);
    // ε-prediction divides by sqrt(ā_999) ~ 0.068 at the last step.
    EXPECT_LE(x0_diff, 1e-4);
    EXPECT_LE(eps_diff, 1e-5);
  }
  const DiffusionProcess process(ldm_schedule());
  EXPECT_THROW(process.predict_x0_and_eps(noise, x0.narrow(0, 0, 2), t), std::invalid_argument);
}

TEST_F(SamplerTest, DdimScheduleMatchesLatentDiffusion) {
  TESSERA_REQUIRE_SHARED_DATA(data);
  const SafetensorsFile file = SafetensorsFile::open((data / "parity" / "schedule.safetensors").string());
  auto values = [&](const std::string& name) {
    const TensorView* view = file.find(name);
    if (view == nullptr) throw std::runtime_error("schedule.safetensors has no " + name);
    return view->to_float32();
  };
  const DiffusionProcess process(ldm_schedule());
  // The process's buffers are LDM's float32 buffers.
  const std::vector<std::pair<std::string, const torch::Tensor*>> buffers = {
      {"betas", &process.betas()},
      {"alphas_cumprod", &process.alphas_cumprod()},
      {"alphas_cumprod_prev", &process.alphas_cumprod_prev()},
      {"sqrt_alphas_cumprod", &process.sqrt_alphas_cumprod()},
      {"sqrt_one_minus_alphas_cumprod", &process.sqrt_one_minus_alphas_cumprod()},
      {"log_one_minus_alphas_cumprod", &process.log_one_minus_alphas_cumprod()},
      {"sqrt_recip_alphas_cumprod", &process.sqrt_recip_alphas_cumprod()},
      {"sqrt_recipm1_alphas_cumprod", &process.sqrt_recipm1_alphas_cumprod()},
      {"posterior_variance", &process.posterior_variance()},
      {"posterior_log_variance_clipped", &process.posterior_log_variance_clipped()},
      {"posterior_mean_coef1", &process.posterior_mean_coef1()},
      {"posterior_mean_coef2", &process.posterior_mean_coef2()}};
  for (const auto& [name, buffer] : buffers) {
    const double diff = max_rel_diff(*buffer, values(name));
    std::printf("  %-32s max rel diff %.3g\n", name.c_str(), diff);
    EXPECT_LE(diff, 1e-6) << name;
  }

  const DdimSampler eta1(process, 50, 1.0);
  const TensorView* steps = file.find("ddim_timesteps");
  ASSERT_NE(steps, nullptr);
  EXPECT_EQ(eta1.timesteps(), steps->to_int64());
  const std::vector<std::pair<std::string, const torch::Tensor*>> ddim = {
      {"ddim_alphas", &eta1.ddim_alphas()},
      {"ddim_alphas_prev", &eta1.ddim_alphas_prev()},
      {"ddim_sigmas_eta1", &eta1.ddim_sigmas()},
      {"ddim_sqrt_one_minus_alphas", &eta1.ddim_sqrt_one_minus_alphas()}};
  for (const auto& [name, buffer] : ddim) {
    EXPECT_EQ(buffer->scalar_type(), torch::kFloat32) << name;
    const double diff = max_rel_diff(*buffer, values(name));
    std::printf("  %-32s max rel diff %.3g\n", name.c_str(), diff);
    EXPECT_LE(diff, 1e-6) << name;
  }
  // η = 0: the same alphas, no noise.
  const DdimSampler eta0(process, 50, 0.0);
  EXPECT_TRUE(eta0.ddim_alphas().equal(eta1.ddim_alphas()));
  EXPECT_EQ(eta0.ddim_sigmas().abs().max().item<float>(), 0.0f);
}

TEST_F(SamplerTest, DdimRejectsBadSettings) {
  const DiffusionProcess process(ldm_schedule());
  EXPECT_THROW(DdimSampler(process, 0), std::invalid_argument);
  EXPECT_THROW(DdimSampler(process, 2000), std::invalid_argument);
  EXPECT_THROW(DdimSampler(process, 10, -0.5), std::invalid_argument);
  EXPECT_THROW(DdimSampler(process, 10, 0.0, 1.0, "linear"), std::invalid_argument);
  EXPECT_THROW(DdimSampler(process, 10, 5.0), std::invalid_argument);  // 1 - a_prev - sigma^2 < 0
  const DdimSampler sampler(process, 4);
  Oracle oracle(process, torch::zeros({1, 1, 2, 2}));
  EXPECT_THROW(sampler.sample(std::ref(oracle), {1, 1, 2, 2}, {}, {}, 0, {}, torch::zeros({1, 1, 3, 3})),
               std::invalid_argument);
}

// With the true ε, DDIM (η = 0) predicts x0 exactly at every step, and its
// sample is that x0 noised to t = 0 along the (constant) ε direction.
TEST_F(SamplerTest, DdimWithAnOracleRecoversX0) {
  for (Parameterization p : {Parameterization::kEps, Parameterization::kV}) {
    const DiffusionProcess process(ldm_schedule(), p);
    auto generator = make_cpu_generator(3);
    const torch::Tensor x0 = torch::randn({2, 3, 4, 4}, generator).clamp(-2.0, 2.0);
    Oracle oracle(process, x0);
    const DdimSampler sampler(process, 50, 0.0);
    double worst_pred_x0 = 0.0;
    std::vector<int64_t> seen;
    torch::Tensor first_eps;
    const torch::Tensor sample = sampler.sample(
        [&](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
          torch::Tensor out = oracle(x, t, c);
          if (!first_eps.defined()) first_eps = oracle.last_eps.clone();
          return out;
        },
        {2, 3, 4, 4}, {}, {}, 42,
        [&](const SamplerStep& step) {
          EXPECT_EQ(step.index, static_cast<int64_t>(seen.size()));
          EXPECT_EQ(step.total, 50);
          seen.push_back(step.timestep);
          worst_pred_x0 = std::max(worst_pred_x0, max_abs_diff(step.pred_x0, x0));
        });
    EXPECT_EQ(oracle.calls, 50);
    ASSERT_EQ(seen.size(), 50u);
    EXPECT_EQ(seen.front(), 981);
    EXPECT_EQ(seen.back(), 1);
    std::printf("  %s: max |pred_x0 - x0| over the steps %.3g\n", p == Parameterization::kEps ? "eps" : "v",
                worst_pred_x0);
    EXPECT_LE(worst_pred_x0, 1e-5);
    // The ε direction never changes: the sample is sqrt(ā_0) x0 + sqrt(1 - ā_0) ε.
    EXPECT_LE(max_abs_diff(oracle.last_eps, first_eps), 1e-5);
    const double a0 = process.alphas_cumprod()[0].item<float>();
    const torch::Tensor expected = std::sqrt(a0) * x0 + std::sqrt(1.0 - a0) * first_eps;
    EXPECT_LE(max_abs_diff(sample, expected), 1e-5);
  }
}

// Ancestral DDPM with the true ε ends at x0 exactly: at t = 0 the posterior
// mean is x0 (coef1 = 1, coef2 = 0) and no noise is added.
TEST_F(SamplerTest, DdpmWithAnOracleRecoversX0) {
  for (Parameterization p : {Parameterization::kEps, Parameterization::kV}) {
    const DiffusionProcess process(ldm_schedule(100), p);
    auto generator = make_cpu_generator(5);
    const torch::Tensor x0 = torch::randn({2, 3, 4, 4}, generator).clamp(-2.0, 2.0);
    Oracle oracle(process, x0);
    const DdpmSampler sampler(process);
    EXPECT_FALSE(sampler.clip_denoised());
    std::vector<int64_t> seen;
    const torch::Tensor sample = sampler.sample(std::ref(oracle), {2, 3, 4, 4}, {}, {}, 9,
                                                [&](const SamplerStep& step) { seen.push_back(step.timestep); });
    EXPECT_EQ(oracle.calls, 100);
    ASSERT_EQ(seen.size(), 100u);
    EXPECT_EQ(seen.front(), 99);
    EXPECT_EQ(seen.back(), 0);
    const double diff = max_abs_diff(sample, x0);
    std::printf("  %s: DDPM |sample - x0| %.3g\n", p == Parameterization::kEps ? "eps" : "v", diff);
    EXPECT_LE(diff, 1e-5);
  }
}

TEST_F(SamplerTest, DdpmClipsDenoisedWhenAsked) {
  const DiffusionProcess process(ldm_schedule(20));
  const torch::Tensor x0 = torch::full({1, 1, 2, 2}, 3.0);
  Oracle oracle(process, x0);
  const torch::Tensor clipped = DdpmSampler(process, 1.0, true).sample(std::ref(oracle), {1, 1, 2, 2}, {}, {}, 1);
  EXPECT_LE(max_abs_diff(clipped, torch::ones({1, 1, 2, 2})), 1e-5);
}

TEST_F(SamplerTest, ClassifierFreeGuidance) {
  auto generator = make_cpu_generator(1);
  const torch::Tensor x = torch::randn({2, 3, 4, 4}, generator);
  const torch::Tensor t = batch_timesteps({5, 5});
  const torch::Tensor cond = torch::full({2, 7, 8}, 2.0);
  const torch::Tensor uncond = torch::full({2, 7, 8}, -1.0);
  int calls = 0;
  int64_t last_batch = 0;
  const Denoiser counting = [&](const torch::Tensor& xx, const torch::Tensor& tt, const torch::Tensor& c) {
    ++calls;
    last_batch = xx.size(0);
    EXPECT_EQ(tt.size(0), xx.size(0));
    EXPECT_EQ(c.size(0), xx.size(0));
    return context_denoiser(xx, tt, c);
  };
  const torch::Tensor e_cond = context_denoiser(x, t, cond);
  const torch::Tensor e_uncond = context_denoiser(x, t, uncond);

  EXPECT_TRUE(guided_model_output(counting, x, t, cond, uncond, 1.0).equal(e_cond));
  EXPECT_EQ(calls, 1);
  EXPECT_EQ(last_batch, 2);
  EXPECT_LE(max_abs_diff(guided_model_output(counting, x, t, cond, uncond, 0.0), e_uncond), 1e-6);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(last_batch, 4);  // one batched call
  EXPECT_LE(max_abs_diff(guided_model_output(counting, x, t, cond, uncond, 3.0), e_uncond + 3.0 * (e_cond - e_uncond)),
            1e-5);
  EXPECT_EQ(calls, 3);
  EXPECT_TRUE(guided_model_output(counting, x, t, cond, {}, 3.0).equal(e_cond));  // no uncond: no guidance
  EXPECT_THROW(guided_model_output(counting, x, t, {}, uncond, 3.0), std::invalid_argument);

  // Whole samplers: one (batched) call per step.
  const DiffusionProcess process(ldm_schedule());
  calls = 0;
  const torch::Tensor guided = DdimSampler(process, 10, 0.0, 7.5).sample(counting, {2, 3, 4, 4}, cond, uncond, 4);
  EXPECT_EQ(calls, 10);
  EXPECT_EQ(last_batch, 4);
  EXPECT_TRUE(torch::isfinite(guided).all().item<bool>());
  // Scale 1 with uncond samples exactly as the conditional model alone.
  const torch::Tensor scale1 = DdimSampler(process, 10, 0.0, 1.0).sample(counting, {2, 3, 4, 4}, cond, uncond, 4);
  const torch::Tensor conditional = DdimSampler(process, 10).sample(counting, {2, 3, 4, 4}, cond, {}, 4);
  EXPECT_TRUE(scale1.equal(conditional));
  const DiffusionProcess short_process(ldm_schedule(30));
  calls = 0;
  DdpmSampler(short_process, 2.0).sample(counting, {2, 3, 4, 4}, cond, uncond, 4);
  EXPECT_EQ(calls, 30);
  EXPECT_EQ(last_batch, 4);
}

TEST_F(SamplerTest, SeedsAreDeterministic) {
  const DiffusionProcess process(ldm_schedule());
  const torch::Tensor cond = torch::full({2, 7, 8}, 0.5);
  for (double eta : {0.0, 1.0}) {
    const DdimSampler sampler(process, 20, eta);
    const torch::Tensor a = sampler.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 1234);
    const torch::Tensor b = sampler.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 1234);
    const torch::Tensor c = sampler.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 1235);
    const torch::Tensor d = sampler.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, make_cpu_generator(1234));
    EXPECT_TRUE(a.equal(b)) << "eta " << eta;
    EXPECT_TRUE(a.equal(d)) << "eta " << eta;
    EXPECT_GT(max_abs_diff(a, c), 1e-3) << "eta " << eta;
    EXPECT_TRUE(torch::isfinite(a).all().item<bool>());
  }
  // With η = 1 the per-step noise matters: the same x_T with different seeds differs.
  const torch::Tensor x_T = torch::randn({2, 3, 8, 8}, make_cpu_generator(77));
  const DdimSampler stochastic(process, 20, 1.0);
  const torch::Tensor p = stochastic.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 1, {}, x_T);
  const torch::Tensor q = stochastic.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 2, {}, x_T);
  EXPECT_GT(max_abs_diff(p, q), 1e-3);
  const DdimSampler deterministic(process, 20, 0.0);
  EXPECT_TRUE(deterministic.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 1, {}, x_T)
                  .equal(deterministic.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 2, {}, x_T)));

  const DiffusionProcess short_process(ldm_schedule(50));
  const DdpmSampler ddpm(short_process);
  const torch::Tensor e = ddpm.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 99);
  EXPECT_TRUE(e.equal(ddpm.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 99)));
  EXPECT_GT(max_abs_diff(e, ddpm.sample(context_denoiser, {2, 3, 8, 8}, cond, {}, 100)), 1e-3);
}

// --- initialisation -------------------------------------------------------

UNetConfig tiny_unet_config() {
  UNetConfig config;
  config.image_size = 8;
  config.in_channels = 4;
  config.out_channels = 4;
  config.model_channels = 32;
  config.attention_resolutions = {2};
  config.num_res_blocks = 1;
  config.channel_mult = {1, 2};
  config.num_heads = 2;
  config.use_spatial_transformer = true;
  config.transformer_depth = 1;
  config.context_dim = 16;
  return config;
}

// A UNet with AttentionBlocks instead of SpatialTransformers.
UNetConfig tiny_attention_unet_config() {
  UNetConfig config = tiny_unet_config();
  config.use_spatial_transformer = false;
  config.context_dim = -1;
  return config;
}

bool same_parameters(const torch::nn::Module& a, const torch::nn::Module& b) {
  const auto pa = a.named_parameters(true);
  const auto pb = b.named_parameters(true);
  if (pa.size() != pb.size()) return false;
  for (const auto& item : pa) {
    const torch::Tensor* other = pb.find(item.key());
    if (other == nullptr || !item.value().equal(*other)) return false;
  }
  return true;
}

bool is_zero_initialised_unet_name(const std::string& name) {
  return name.rfind("out.2.", 0) == 0 || name.find("out_layers.3.") != std::string::npos ||
         name.find("proj_out.") != std::string::npos;
}

TEST_F(SamplerTest, UNetInitialisationFollowsUpstream) {
  for (const UNetConfig& config : {tiny_unet_config(), tiny_attention_unet_config()}) {
    UNet a(config), b(config), c(config);
    initialize_unet(a, 17);
    initialize_unet(b, 17);
    initialize_unet(c, 18);
    EXPECT_TRUE(same_parameters(a, b));
    EXPECT_FALSE(same_parameters(a, c));
    int zeroed = 0;
    for (const auto& item : a.named_parameters(true)) {
      const std::string& name = item.key();
      const torch::Tensor& value = item.value();
      const double largest = value.abs().max().item<double>();
      if (is_zero_initialised_unet_name(name)) {
        ++zeroed;
        EXPECT_EQ(largest, 0.0) << name;
      } else if (value.dim() >= 2) {
        // Conv / Linear weights: U(-1/sqrt(fan_in), 1/sqrt(fan_in)).
        EXPECT_GT(largest, 0.0) << name;
      }
    }
    EXPECT_GE(zeroed, 10);
    // GroupNorm and LayerNorm: weight 1, bias 0.
    const auto parameters = a.named_parameters(true);
    for (const char* norm_name : {"middle_block.0.in_layers.0", "out.0"}) {
      const std::string norm = norm_name;
      const torch::Tensor* weight = parameters.find(norm + ".weight");
      const torch::Tensor* bias = parameters.find(norm + ".bias");
      ASSERT_NE(weight, nullptr) << norm;
      ASSERT_NE(bias, nullptr) << norm;
      EXPECT_TRUE(weight->equal(torch::ones_like(*weight))) << norm;
      EXPECT_TRUE(bias->equal(torch::zeros_like(*bias))) << norm;
    }
    if (config.use_spatial_transformer) {
      const torch::Tensor* ln = parameters.find("middle_block.1.transformer_blocks.0.norm1.weight");
      ASSERT_NE(ln, nullptr);
      EXPECT_TRUE(ln->equal(torch::ones_like(*ln)));
    }
    // Conv biases follow the default rule too.
    const torch::Tensor* conv_bias = parameters.find("input_blocks.0.0.bias");
    ASSERT_NE(conv_bias, nullptr);
    EXPECT_GT(conv_bias->abs().max().item<double>(), 0.0);
    // Spot-check the default bound on the first conv (fan_in 4 * 3 * 3).
    const torch::Tensor* conv_in = parameters.find("input_blocks.0.0.weight");
    ASSERT_NE(conv_in, nullptr);
    const double bound = 1.0 / std::sqrt(36.0);
    EXPECT_LE(conv_in->abs().max().item<double>(), bound);
    EXPECT_GT(conv_in->abs().max().item<double>(), 0.8 * bound);
  }
}

TEST_F(SamplerTest, TinyInitialisedUNetSamples) {
  UNet unet(tiny_unet_config());
  initialize_unet(unet, 3);
  unet.eval();
  torch::NoGradGuard no_grad;
  auto generator = make_cpu_generator(8);
  const torch::Tensor x = torch::randn({2, 4, 8, 8}, generator);
  const torch::Tensor context = torch::randn({2, 5, 16}, generator);
  UNetTrace trace;
  const torch::Tensor eps = unet.forward(x, batch_timesteps({10, 500}), context, &trace);
  EXPECT_EQ(eps.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(eps).all().item<bool>());
  // The zero-initialised final conv makes the output exactly 0, as upstream;
  // the features before it are not trivial.
  EXPECT_EQ(eps.abs().max().item<double>(), 0.0);
  EXPECT_GT(trace.middle_block.abs().max().item<double>(), 0.0);
  EXPECT_TRUE(torch::isfinite(trace.middle_block).all().item<bool>());

  const DiffusionProcess process(ldm_schedule());
  const DdimSampler sampler(process, 2, 0.0, 3.0);
  int calls = 0;
  const torch::Tensor sample = sampler.sample(
      [&](const torch::Tensor& xx, const torch::Tensor& t, const torch::Tensor& c) {
        ++calls;
        return unet.forward(xx, t, c);
      },
      {2, 4, 8, 8}, context, torch::zeros_like(context), 21);
  EXPECT_EQ(calls, 2);
  EXPECT_EQ(sample.sizes(), x.sizes());
  EXPECT_TRUE(torch::isfinite(sample).all().item<bool>());
}

TEST_F(SamplerTest, AutoencoderInitialisation) {
  AutoencoderConfig kl;
  kl.ch = 32;
  kl.ch_mult = {1, 2};
  kl.num_res_blocks = 1;
  kl.resolution = 16;
  AutoencoderConfig vq = kl;
  vq.kind = AutoencoderKind::kVq;
  vq.double_z = false;
  vq.n_embed = 16;
  for (const AutoencoderConfig& config : {kl, vq}) {
    Autoencoder a(config), b(config), c(config);
    initialize_autoencoder(a, 5);
    initialize_autoencoder(b, 5);
    initialize_autoencoder(c, 6);
    EXPECT_TRUE(same_parameters(a, b));
    EXPECT_FALSE(same_parameters(a, c));
    for (const auto& item : a.named_parameters(true)) {
      if (item.key().find("norm") != std::string::npos) continue;
      EXPECT_GT(item.value().abs().max().item<double>(), 0.0) << item.key();
    }
    if (config.kind == AutoencoderKind::kVq) {
      const auto parameters = a.named_parameters(true);
      const torch::Tensor* codebook = parameters.find("quantize.embedding.weight");
      ASSERT_NE(codebook, nullptr);
      EXPECT_LE(codebook->abs().max().item<double>(), 1.0 / 16);
    }
    a.eval();
    torch::NoGradGuard no_grad;
    const torch::Tensor image = torch::rand({1, 3, 16, 16}, make_cpu_generator(2)) * 2 - 1;
    const torch::Tensor decoded = a.decode(a.encode(image));
    EXPECT_EQ(decoded.sizes(), image.sizes());
    EXPECT_TRUE(torch::isfinite(decoded).all().item<bool>());
  }
}

TEST_F(SamplerTest, ClipTextInitialisationFollowsHuggingFace) {
  ClipTextConfig config;
  config.vocab_size = 1000;
  config.hidden_size = 64;
  config.intermediate_size = 256;
  config.num_hidden_layers = 2;
  config.num_attention_heads = 4;
  config.bos_token_id = 998;
  config.eos_token_id = 999;
  config.pad_token_id = 999;
  ClipTextModel a(config), b(config), c(config);
  initialize_clip_text(a, 9);
  initialize_clip_text(b, 9);
  initialize_clip_text(c, 10);
  EXPECT_TRUE(same_parameters(a, b));
  EXPECT_FALSE(same_parameters(a, c));
  const auto parameters = a.named_parameters(true);
  auto std_of = [&](const std::string& name) {
    const torch::Tensor* value = parameters.find(name);
    if (value == nullptr) throw std::runtime_error("no parameter " + name);
    return value->std().item<double>();
  };
  const std::string layer = "text_model.encoder.layers.0.";
  const double in_proj = std::pow(64.0, -0.5) * std::pow(4.0, -0.5);  // 0.0625
  EXPECT_NEAR(std_of("text_model.embeddings.token_embedding.weight"), 0.02, 0.002);
  EXPECT_NEAR(std_of("text_model.embeddings.position_embedding.weight"), 0.02, 0.003);
  EXPECT_NEAR(std_of(layer + "self_attn.q_proj.weight"), in_proj, 0.1 * in_proj);
  EXPECT_NEAR(std_of(layer + "self_attn.out_proj.weight"), 0.125, 0.0125);
  EXPECT_NEAR(std_of(layer + "mlp.fc1.weight"), std::pow(128.0, -0.5), 0.01);
  EXPECT_NEAR(std_of(layer + "mlp.fc2.weight"), in_proj, 0.1 * in_proj);
  for (const auto& item : parameters) {
    const std::string& name = item.key();
    const bool bias = name.size() > 5 && name.compare(name.size() - 5, 5, ".bias") == 0;
    if (bias) {
      EXPECT_EQ(item.value().abs().max().item<double>(), 0.0) << name;  // Linear and LayerNorm biases
    } else if (name.find("layer_norm") != std::string::npos) {
      EXPECT_EQ(max_abs_diff(item.value(), torch::ones_like(item.value())), 0.0) << name;
    }
  }
  a.eval();
  torch::NoGradGuard no_grad;
  const torch::Tensor ids = torch::randint(0, 1000, {2, 77}, make_cpu_generator(4));
  EXPECT_TRUE(torch::isfinite(a.forward(ids)).all().item<bool>());
}

}  // namespace
}  // namespace tessera::model
