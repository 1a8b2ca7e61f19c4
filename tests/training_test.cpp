#include <gtest/gtest.h>
#include <torch/torch.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <filesystem>
#include <functional>
#include <map>
#include <memory>
#include <stdexcept>
#include <string>
#include <vector>

#include "model/device.h"
#include "model/diffusion_loss.h"
#include "model/ema.h"
#include "model/init.h"
#include "model/lr_schedule.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/sampler.h"
#include "model/trainer.h"
#include "model/training_checkpoint.h"
#include "model/unet.h"
#include "test_support.h"
#include "tiny_unet.h"

namespace tessera::model {
namespace {

std::shared_ptr<UNet> make_unet(uint64_t seed) {
  auto unet = std::make_shared<UNet>(tessera::testing::tiny_training_unet_config());
  initialize_unet(*unet, seed);
  return unet;
}

// A UNet whose zero-initialised output conv is drawn too, so that the first
// step already has gradients in every layer.
std::shared_ptr<UNet> make_live_unet(uint64_t seed) {
  auto unet = make_unet(seed);
  torch::NoGradGuard no_grad;
  at::Generator generator = make_cpu_generator(seed + 1);
  for (auto& item : unet->named_parameters()) {
    if (item.key().rfind("out.2.", 0) == 0) item.value().copy_(torch::randn(item.value().sizes(), generator) * 0.02);
  }
  return unet;
}

DiffusionProcess make_process() {
  return DiffusionProcess(make_diffusion_schedule(make_beta_schedule("linear", 1000, 0.0015, 0.0195)));
}

// 8 fixed latents 4x8x8 (two smooth patterns with a little noise), the first
// four with one context and the last four with another.
struct Dataset {
  torch::Tensor latents;   // (8, 4, 8, 8)
  torch::Tensor contexts;  // (8, 4, 32)

  Dataset() {
    at::Generator generator = make_cpu_generator(7);
    const torch::Tensor ramp = torch::linspace(-1.0, 1.0, 8);
    const torch::Tensor pattern_a = (ramp.view({1, 8, 1}) * ramp.view({1, 1, 8})).expand({4, 8, 8});
    const torch::Tensor pattern_b = torch::sin(3.0 * ramp).view({1, 8, 1}).expand({4, 8, 8});
    std::vector<torch::Tensor> samples;
    for (int i = 0; i < 8; ++i) {
      const torch::Tensor base = i < 4 ? pattern_a : pattern_b;
      samples.push_back(base + 0.1 * torch::randn({4, 8, 8}, generator));
    }
    latents = torch::stack(samples).contiguous();
    const torch::Tensor two = torch::randn({2, 4, 32}, generator);
    contexts = torch::cat({two[0].expand({4, 4, 32}), two[1].expand({4, 4, 32})}).contiguous();
  }

  // The global batch of step `step`: 4 samples, cycling through the 8.
  std::vector<int64_t> indices(int64_t step) const {
    std::vector<int64_t> list;
    for (int64_t j = 0; j < 4; ++j) list.push_back((4 * step + j) % 8);
    return list;
  }

  // The step's samples as `parts` micro-batches.
  std::vector<TrainingBatch> batches(int64_t step, int64_t parts) const {
    const torch::Tensor index = torch::tensor(indices(step), torch::kInt64);
    const torch::Tensor x = latents.index_select(0, index);
    const torch::Tensor c = contexts.index_select(0, index);
    std::vector<TrainingBatch> list;
    const int64_t size = 4 / parts;
    for (int64_t p = 0; p < parts; ++p) list.push_back({x.narrow(0, p * size, size), c.narrow(0, p * size, size)});
    return list;
  }
};

std::vector<torch::Tensor> snapshot(const torch::nn::Module& module) {
  std::vector<torch::Tensor> values;
  for (const auto& parameter : module.parameters()) values.push_back(parameter.detach().clone());
  return values;
}

double max_difference(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  EXPECT_EQ(a.size(), b.size());
  double worst = 0.0;
  for (size_t i = 0; i < a.size() && i < b.size(); ++i) {
    worst = std::max(worst, (a[i].to(torch::kFloat64) - b[i].to(torch::kFloat64)).abs().max().item<double>());
  }
  return worst;
}

bool bitwise_equal(const std::vector<torch::Tensor>& a, const std::vector<torch::Tensor>& b) {
  if (a.size() != b.size()) return false;
  for (size_t i = 0; i < a.size(); ++i) {
    if (!torch::equal(a[i], b[i])) return false;
  }
  return true;
}

std::string error_of(const std::function<void()>& action) {
  try {
    action();
  } catch (const std::exception& error) {
    return error.what();
  }
  return {};
}

class TrainingTest : public ::testing::Test {
 protected:
  void SetUp() override { set_cpu_threads(1); }

  const Dataset data_;
};

// A module with one trainable and one frozen parameter.
struct TwoParameters : torch::nn::Module {
  TwoParameters() {
    weight = register_parameter("weight", torch::tensor({1.0f, 2.0f}));
    frozen = register_parameter("frozen", torch::tensor({5.0f}), /*requires_grad=*/false);
  }
  torch::Tensor weight, frozen;
};

TEST_F(TrainingTest, EmaFollowsLitEmaWithTheNumUpdatesDecay) {
  TwoParameters module;
  Ema ema(module);
  EXPECT_EQ(ema.names(), std::vector<std::string>{"weight"});  // the frozen parameter has no shadow
  const std::vector<std::vector<float>> values = {{3.0f, -1.0f}, {0.5f, 4.0f}, {-2.0f, 2.0f}};
  double shadow[2] = {1.0, 2.0};
  for (size_t update = 0; update < values.size(); ++update) {
    const double n = static_cast<double>(update + 1);
    const double decay = std::min(0.9999, (1.0 + n) / (10.0 + n));  // 2/11, 3/12, 4/13
    EXPECT_NEAR(ema.next_decay(), decay, 1e-7);
    {
      torch::NoGradGuard no_grad;
      module.weight.copy_(torch::tensor(values[update]));
    }
    ema.update(module);
    for (int i = 0; i < 2; ++i) shadow[i] -= (1.0 - decay) * (shadow[i] - values[update][i]);
  }
  EXPECT_EQ(ema.num_updates(), 3);
  // By hand: 1 -> 1 - 9/11 (1 - 3) = 2.636364 -> 2.636364 - 3/4 (2.636364 - 0.5) = 1.034091
  // -> 1.034091 - 9/13 (1.034091 + 2) = -1.066434; 2 -> -0.454545 -> 2.886364 -> 2.272727.
  EXPECT_NEAR(shadow[0], -1.0664336, 1e-6);
  EXPECT_NEAR(shadow[1], 2.2727273, 1e-6);
  EXPECT_NEAR(ema.shadow("weight")[0].item<double>(), shadow[0], 1e-6);
  EXPECT_NEAR(ema.shadow("weight")[1].item<double>(), shadow[1], 1e-6);

  // store / copy_to / restore swaps the average in and out; the frozen parameter is untouched.
  ema.store(module);
  ema.copy_to(module);
  EXPECT_NEAR(module.weight[0].item<double>(), shadow[0], 1e-6);
  EXPECT_EQ(module.frozen[0].item<float>(), 5.0f);
  ema.restore(module);
  EXPECT_EQ(module.weight[0].item<float>(), -2.0f);
  EXPECT_EQ(module.weight[1].item<float>(), 2.0f);

  // Late in training the configured decay (as float32) takes over.
  ema.set_num_updates(1000000);
  EXPECT_EQ(ema.next_decay(), static_cast<double>(0.9999f));
  Ema fixed(module, 0.5, /*use_num_updates=*/false);
  EXPECT_EQ(fixed.next_decay(), 0.5);
  EXPECT_THROW(ema.shadow("frozen"), std::out_of_range);
  EXPECT_THROW(Ema(module, 1.5), std::invalid_argument);
}

TEST_F(TrainingTest, LambdaLinearSchedulerMatchesUpstream) {
  // Values from upstream's LambdaLinearScheduler.schedule in Python.
  const LambdaLinearScheduler one(/*warm_up_steps=*/{10}, /*f_start=*/{1e-6}, /*f_min=*/{0.1}, /*f_max=*/{1.0},
                                  /*cycle_lengths=*/{100});
  EXPECT_DOUBLE_EQ(one(0), 1e-6);
  EXPECT_DOUBLE_EQ(one(5), 0.5000005000000001);
  EXPECT_DOUBLE_EQ(one(10), 0.91);  // the first step after warm-up: linear decay from f_max
  EXPECT_DOUBLE_EQ(one(99), 0.10900000000000001);
  EXPECT_DOUBLE_EQ(one(100), 0.1);  // a cycle's end step still belongs to it
  EXPECT_THROW(one(101), std::out_of_range);
  EXPECT_THROW(one(-1), std::out_of_range);

  // LDM's own config: 10^4 warm-up steps from 1e-6 to 1, then 1.
  const LambdaLinearScheduler ldm({10000}, {1e-6}, {1.0}, {1.0}, {10000000000000});
  EXPECT_DOUBLE_EQ(ldm(5000), 0.5000005);
  EXPECT_DOUBLE_EQ(ldm(20000), 1.0);

  // Two cycles: the second starts counting at the first's end.
  const LambdaLinearScheduler two({2, 0}, {0.0, 0.5}, {0.5, 0.2}, {1.0, 0.6}, {10, 20});
  EXPECT_DOUBLE_EQ(two(1), 0.5);
  EXPECT_DOUBLE_EQ(two(11), 0.5800000000000001);
  EXPECT_DOUBLE_EQ(two(30), 0.2);
  EXPECT_THROW(two(31), std::out_of_range);
  EXPECT_THROW(LambdaLinearScheduler({1}, {0.0, 1.0}, {1.0}, {1.0}, {10}), std::invalid_argument);
  EXPECT_EQ(constant_lr_schedule()(123456), 1.0);
}

// With a zero denoiser the loss is the mean square of the target; t is drawn
// before the noise, both from the generator given.
TEST_F(TrainingTest, DiffusionLossIsTheMeanSquaredTargetError) {
  const DiffusionProcess eps_process = make_process();
  const Denoiser zero = [](const torch::Tensor& x, const torch::Tensor&, const torch::Tensor&) {
    return torch::zeros_like(x);
  };
  const torch::Tensor x0 = data_.latents.narrow(0, 0, 4);
  at::Generator generator = make_cpu_generator(11);
  const double loss = diffusion_loss(zero, eps_process, x0, {}, generator).item<double>();

  at::Generator again = make_cpu_generator(11);
  const torch::Tensor t = torch::randint(0, 1000, {4}, again, torch::TensorOptions().dtype(torch::kInt64));
  const torch::Tensor noise = torch::randn({4, 4, 8, 8}, again, torch::TensorOptions().dtype(torch::kFloat32));
  EXPECT_NEAR(loss, noise.pow(2).mean().item<double>(), 1e-6);
  at::Generator third = make_cpu_generator(11);
  const DiffusionDraw draw = draw_diffusion_inputs(third, 1000, x0.sizes());
  EXPECT_TRUE(torch::equal(draw.t, t));
  EXPECT_TRUE(torch::equal(draw.noise, noise));

  const DiffusionProcess v_process(make_diffusion_schedule(make_beta_schedule("linear", 1000, 0.0015, 0.0195)),
                                   Parameterization::kV);
  const torch::Tensor a = v_process.alphas_cumprod().index_select(0, t).view({4, 1, 1, 1});
  const torch::Tensor v = a.sqrt() * noise - (1 - a).sqrt() * x0;
  const double v_loss = diffusion_loss(zero, v_process, x0, {}, t, noise).item<double>();
  EXPECT_NEAR(v_loss, v.pow(2).mean().item<double>(), 1e-6);
  EXPECT_GT(std::abs(v_loss - loss), 1e-3);  // the v target is not the noise
}

TEST_F(TrainingTest, LossFalls) {
  TrainerOptions options;
  options.base_learning_rate = 1e-3;
  options.seed = 3;
  LdmTrainer trainer(make_unet(1), make_process(), options);
  std::vector<double> losses;
  for (int64_t step = 0; step < 150; ++step) losses.push_back(trainer.step(data_.batches(step, 1)));
  double first = 0.0, last = 0.0;
  for (int i = 0; i < 10; ++i) {
    first += losses[i] / 10.0;
    last += losses[losses.size() - 10 + i] / 10.0;
  }
  std::printf("  mean loss: first 10 steps %.4f, last 10 steps %.4f\n", first, last);
  EXPECT_GT(first, 0.8);  // a zero-initialised output predicts no noise: loss ~ E[noise^2] = 1
  EXPECT_LT(last, 0.6 * first);
  EXPECT_EQ(trainer.step_count(), 150);
  EXPECT_EQ(trainer.ema()->num_updates(), 150);
}

// Options that exercise every piece of state: accumulation, clipping, a
// warm-up schedule and the EMA.
TrainerOptions resume_options(uint64_t seed) {
  TrainerOptions options;
  options.base_learning_rate = 2e-3;
  options.accumulate = 2;
  options.max_grad_norm = 1.0;
  options.ema_decay = 0.999;
  options.seed = seed;
  return options;
}

LrSchedule resume_schedule() { return LambdaLinearScheduler({4}, {0.1}, {0.5}, {1.0}, {1000}); }

TEST_F(TrainingTest, ResumeFromCheckpointIsBitIdentical) {
  testing::TempDir dir;
  const std::string path = (dir / "step3.safetensors").string();
  constexpr int64_t k = 3;

  LdmTrainer straight(make_unet(1), make_process(), resume_options(5), resume_schedule());
  std::vector<double> straight_losses;
  for (int64_t step = 0; step < 2 * k; ++step) straight_losses.push_back(straight.step(data_.batches(step, 2)));

  {
    LdmTrainer first(make_unet(1), make_process(), resume_options(5), resume_schedule());
    for (int64_t step = 0; step < k; ++step) EXPECT_EQ(first.step(data_.batches(step, 2)), straight_losses[step]);
    save_training_checkpoint(path, first, {{"data.cursor", "12"}, {"manifest", "abc"}});
  }
  // Everything fresh, and different: other initial weights and another seed.
  LdmTrainer resumed(make_unet(99), make_process(), resume_options(77), resume_schedule());
  const std::map<std::string, std::string> metadata = load_training_checkpoint(path, resumed);
  EXPECT_EQ(metadata, (std::map<std::string, std::string>{{"data.cursor", "12"}, {"manifest", "abc"}}));
  EXPECT_EQ(resumed.step_count(), k);
  EXPECT_EQ(resumed.ema()->num_updates(), k);
  for (int64_t step = k; step < 2 * k; ++step) {
    EXPECT_EQ(resumed.step(data_.batches(step, 2)), straight_losses[step]) << "step " << step;
    EXPECT_EQ(resumed.last_learning_rate(), 2e-3 * resume_schedule()(step));
  }
  EXPECT_TRUE(bitwise_equal(snapshot(resumed.unet()), snapshot(straight.unet())));
  for (const std::string& name : straight.ema()->names()) {
    EXPECT_TRUE(torch::equal(resumed.ema()->shadow(name), straight.ema()->shadow(name))) << name;
  }
  EXPECT_TRUE(torch::equal(resumed.generator().get_state(), straight.generator().get_state()));
  // The losses did move, so equality is not vacuous.
  EXPECT_NE(straight_losses[k], straight_losses[k + 1]);

  // The sampling weights are the EMA under upstream's names.
  const SafetensorsFile file = SafetensorsFile::open(path);
  ASSERT_NE(file.find("model.diffusion_model.out.2.weight"), nullptr);
  ASSERT_NE(file.find("train.model.diffusion_model.out.2.weight"), nullptr);
  ASSERT_NE(file.find("train.optimizer.out.2.weight.exp_avg_sq"), nullptr);
  EXPECT_EQ(file.find("train.optimizer.out.2.weight.step")->to_int64(), std::vector<int64_t>{k});
}

// 2 micro-batches of 2 with accumulate = 2 make the same gradient and update
// as one batch of 4: each micro-batch's mean loss is weighted by its share
// of the step's samples. AdamW's eps is raised to 1e-4 so that the update is
// a smooth function of the gradient (with eps 1e-8 it is ~lr sign(g), which
// float rounding can flip where g is ~0).
TEST_F(TrainingTest, GradientAccumulationMatchesOneLargeBatch) {
  TrainerOptions options;
  options.base_learning_rate = 1e-3;
  options.eps = 1e-4;
  options.seed = 9;
  TrainerOptions accumulated = options;
  accumulated.accumulate = 2;
  LdmTrainer large(make_live_unet(1), make_process(), options);
  LdmTrainer split(make_live_unet(1), make_process(), accumulated);
  const std::vector<torch::Tensor> before = snapshot(large.unet());

  const double large_loss = large.step(data_.batches(0, 1));
  const double split_loss = split.step(data_.batches(0, 2));
  EXPECT_NEAR(large_loss, split_loss, 1e-6);

  std::vector<torch::Tensor> large_grads, split_grads;
  for (const auto& p : large.unet().parameters()) large_grads.push_back(p.grad().clone());
  for (const auto& p : split.unet().parameters()) split_grads.push_back(p.grad().clone());
  double largest_grad = 0.0;
  for (const auto& g : large_grads) largest_grad = std::max(largest_grad, g.abs().max().item<double>());
  ASSERT_GT(largest_grad, 1e-3);
  EXPECT_LT(max_difference(large_grads, split_grads), 1e-6);
  EXPECT_LT(max_difference(snapshot(large.unet()), snapshot(split.unet())), 1e-6);
  EXPECT_GT(max_difference(snapshot(large.unet()), before), 5e-4);  // the step did move the weights

  EXPECT_THROW(split.step(data_.batches(1, 1)), std::invalid_argument);  // accumulate = 2 takes two
}

TEST_F(TrainingTest, ClippingCapsTheGlobalGradientNorm) {
  auto global_norm = [](const torch::nn::Module& module) {
    double sum = 0.0;
    for (const auto& p : module.parameters()) sum += p.grad().to(torch::kFloat64).pow(2).sum().item<double>();
    return std::sqrt(sum);
  };
  TrainerOptions options;
  options.seed = 4;
  LdmTrainer free(make_live_unet(2), make_process(), options);
  free.step(data_.batches(0, 1));
  const double unclipped = free.last_grad_norm();
  EXPECT_NEAR(global_norm(free.unet()), unclipped, 1e-5 * unclipped);

  options.max_grad_norm = 0.25 * unclipped;
  LdmTrainer clipped(make_live_unet(2), make_process(), options);
  clipped.step(data_.batches(0, 1));
  EXPECT_NEAR(clipped.last_grad_norm(), unclipped, 1e-5 * unclipped);  // reported before clipping
  EXPECT_NEAR(global_norm(clipped.unet()), options.max_grad_norm, 1e-4 * options.max_grad_norm);
}

TEST_F(TrainingTest, CheckpointErrorsNameTheFileAndKey) {
  testing::TempDir dir;
  const std::string good = (dir / "good.safetensors").string();
  TrainerOptions options;
  options.seed = 1;
  LdmTrainer trainer(make_unet(1), make_process(), options);
  trainer.step(data_.batches(0, 1));
  save_training_checkpoint(good, trainer);
  EXPECT_THROW(save_training_checkpoint(good, trainer, {{"tessera.format", "x"}}), std::invalid_argument);

  LdmTrainer target(make_unet(2), make_process(), options);
  const std::vector<torch::Tensor> before = snapshot(target.unet());

  // Truncated: half of the file.
  const std::string truncated = (dir / "truncated.safetensors").string();
  std::filesystem::copy_file(good, truncated);
  std::filesystem::resize_file(truncated, std::filesystem::file_size(good) / 2);
  std::string message = error_of([&] { load_training_checkpoint(truncated, target); });
  EXPECT_NE(message.find(truncated), std::string::npos) << message;

  // One key missing.
  const std::string missing = (dir / "missing.safetensors").string();
  const std::string dropped = "train.optimizer.input_blocks.1.0.in_layers.2.weight.exp_avg";
  {
    const SafetensorsFile file = SafetensorsFile::open(good);
    std::vector<TensorData> tensors;
    for (const TensorView& view : file.tensors()) {
      if (view.name == dropped) continue;
      tensors.push_back({view.name, view.dtype, view.shape, std::vector<uint8_t>(view.data, view.data + view.bytes)});
    }
    ASSERT_EQ(tensors.size() + 1, file.tensors().size());
    write_safetensors(missing, tensors, file.metadata());
  }
  message = error_of([&] { load_training_checkpoint(missing, target); });
  EXPECT_NE(message.find(missing), std::string::npos) << message;
  EXPECT_NE(message.find("missing: " + dropped), std::string::npos) << message;

  // Another model's checkpoint: shapes differ, named with both shapes.
  UNetConfig wider = tessera::testing::tiny_training_unet_config();
  wider.model_channels = 64;
  LdmTrainer other(std::make_shared<UNet>(wider), make_process(), options);
  message = error_of([&] { load_training_checkpoint(good, other); });
  EXPECT_NE(message.find("mismatch: train.model.diffusion_model.out.2.weight: got F32 [4, 32, 3, 3], expected F32 "
                         "[4, 64, 3, 3]"),
            std::string::npos)
      << message;

  // EMA on in the file, off in the trainer.
  options.use_ema = false;
  LdmTrainer without_ema(make_unet(2), make_process(), options);
  message = error_of([&] { load_training_checkpoint(good, without_ema); });
  EXPECT_NE(message.find("EMA on"), std::string::npos) << message;

  // Failed loads left the trainer as it was; the good file loads.
  EXPECT_EQ(target.step_count(), 0);
  EXPECT_TRUE(bitwise_equal(snapshot(target.unet()), before));
  EXPECT_NO_THROW(load_training_checkpoint(good, target));
  EXPECT_EQ(target.step_count(), 1);
  EXPECT_TRUE(bitwise_equal(snapshot(target.unet()), snapshot(trainer.unet())));
}

}  // namespace
}  // namespace tessera::model
