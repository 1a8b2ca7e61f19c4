// Fine-tuning the first-stage autoencoder (`tessera train-vae`): the loss
// terms against hand computations, LPIPS against a step-by-step formula, the
// loss plot's pixels, and through the CLI (as users run it) on a small store
// with the tiny VQ and KL configs: the loss falls, resuming is exact, the new
// weights re-encode the store as a new model, and bad inputs write nothing.

#include <gtest/gtest.h>
#include <torch/torch.h>

#include <cmath>
#include <filesystem>
#include <fstream>
#include <map>
#include <nlohmann/json.hpp>
#include <sstream>
#include <string>
#include <vector>

#include "base/error.h"
#include "base/file_io.h"
#include "base/folder_lock.h"
#include "imaging/image_file.h"
#include "imaging/loss_plot.h"
#include "model/autoencoder.h"
#include "model/autoencoder_loss.h"
#include "model/lpips.h"
#include "model/safetensors.h"
#include "model/sampler.h"
#include "model/tensor_io.h"
#include "runtime/model_loading.h"
#include "store/store.h"
#include "test_support.h"

namespace tessera {
namespace {
namespace fs = std::filesystem;
using testing::json_of;
using testing::run_tessera;

std::vector<std::string> lines_of(const fs::path& path) {
  std::vector<std::string> lines;
  std::ifstream in(path);
  for (std::string line; std::getline(in, line);) lines.push_back(line);
  return lines;
}

// The total loss column of loss.csv, by row.
std::vector<double> losses_of(const fs::path& csv) {
  std::vector<double> losses;
  const auto lines = lines_of(csv);
  for (size_t i = 1; i < lines.size(); ++i) losses.push_back(std::stod(lines[i].substr(lines[i].find(',') + 1)));
  return losses;
}

double mean_of(const std::vector<double>& values, size_t begin, size_t end) {
  double sum = 0;
  for (size_t i = begin; i < end; ++i) sum += values[i];
  return sum / double(end - begin);
}

// ---------------------------------------------------------------- loss plot

TEST(LossPlot, WritesThePngAtItsSizeWithEachSeriesInItsColourAlongItsLine) {
  testing::TempDir dir;
  // Horizontal first segments, bottom left, away from the legend.
  const std::vector<stages::LossSeries> series = {
      {"train", {{0, 1.0}, {50, 1.0}, {100, 4.0}}},
      {"held out", {{0, 2.0}, {50, 2.0}, {100, 3.0}}},
  };
  stages::LossPlotOptions options;
  options.width = 640;
  options.height = 400;
  options.title = "a title";
  const fs::path png = dir / "loss.png";
  stages::write_loss_plot(series, options, png.string());
  ASSERT_TRUE(fs::exists(png));
  for (const auto& entry : fs::directory_iterator(dir.path())) {
    EXPECT_EQ(entry.path().filename(), "loss.png") << "a temporary file was left behind";
  }

  const stages::RgbImage image = stages::read_image(png.string());
  ASSERT_EQ(image.width, 640);
  ASSERT_EQ(image.height, 400);
  const stages::LossPlotFrame frame = stages::loss_plot_frame(series, options);
  EXPECT_EQ(frame.x_min, 0);
  EXPECT_EQ(frame.x_max, 100);
  EXPECT_NEAR(frame.y_min, 1.0 - 0.15, 1e-12);  // 5% of the range below the lowest value
  EXPECT_NEAR(frame.y_max, 4.0 + 0.15, 1e-12);
  for (size_t s = 0; s < series.size(); ++s) {
    const auto colour = stages::loss_plot_colour(s);
    const int y = int(std::lround(frame.y_pixel(series[s].points[0].value)));
    for (double step : {10.0, 25.0, 40.0}) {
      const int x = int(std::lround(frame.x_pixel(step)));
      const uint8_t* pixel = image.at(x, y);
      EXPECT_EQ(pixel[0], colour[0]) << "series " << s << " at step " << step;
      EXPECT_EQ(pixel[1], colour[1]);
      EXPECT_EQ(pixel[2], colour[2]);
    }
  }
  EXPECT_NE(stages::loss_plot_colour(0), stages::loss_plot_colour(1));
  // Between the two lines the plot is white.
  const uint8_t* between = image.at(int(std::lround(frame.x_pixel(25))), int(std::lround(frame.y_pixel(1.5))));
  EXPECT_EQ(between[0], 255);
  EXPECT_EQ(between[1], 255);
  EXPECT_EQ(between[2], 255);
  // The title is drawn: dark pixels in the top band.
  int dark = 0;
  for (int y = 0; y < frame.top - 4; ++y) {
    for (int x = 0; x < image.width; ++x) dark += image.at(x, y)[0] < 128;
  }
  EXPECT_GT(dark, 20);
}

TEST(LossPlot, ManyPointsAreDrawnFaintlyUnderTheirMovingAverage) {
  // Alternating 1 and 3: every even window averages exactly 2.
  stages::LossSeries noisy{"noisy", {}};
  std::vector<double> values;
  for (int i = 0; i < 400; ++i) {
    noisy.points.push_back({i, i % 2 ? 3.0 : 1.0});
    values.push_back(noisy.points.back().value);
  }
  const std::vector<double> average = stages::moving_average(values, 8);
  EXPECT_EQ(average[200], 2.0);
  EXPECT_EQ(average[0], (1.0 + 3.0 + 1.0 + 3.0) / 4);                 // clipped: points 0..3
  EXPECT_DOUBLE_EQ(average[399], (3.0 + 1.0 + 3.0 + 1.0 + 3.0) / 5);  // points 395..399

  stages::LossPlotOptions options;
  options.width = 800;
  options.height = 500;
  const auto image = stages::render_loss_plot({noisy}, options);
  const auto frame = stages::loss_plot_frame({noisy}, options);
  const auto colour = stages::loss_plot_colour(0);
  const auto faint = stages::loss_plot_faint_colour(0);
  EXPECT_EQ(faint[0], (colour[0] + 510) / 3);
  const uint8_t* smooth = image.at(int(std::lround(frame.x_pixel(200))), int(std::lround(frame.y_pixel(2.0))));
  EXPECT_EQ(smooth[0], colour[0]);
  EXPECT_EQ(smooth[1], colour[1]);
  EXPECT_EQ(smooth[2], colour[2]);
  const uint8_t* raw = image.at(int(std::lround(frame.x_pixel(100))), int(std::lround(frame.y_pixel(1.0))));
  EXPECT_EQ(raw[0], faint[0]);
  EXPECT_EQ(raw[1], faint[1]);
  EXPECT_EQ(raw[2], faint[2]);
}

TEST(LossPlot, LogAxisPlacesDecadesEvenlyAndSkipsNonPositiveValues) {
  const std::vector<stages::LossSeries> series = {{"loss", {{1, 0.01}, {2, 0.0}, {3, 1.0}, {4, -1.0}}}};
  stages::LossPlotOptions options;
  options.log_y = true;
  const auto frame = stages::loss_plot_frame(series, options);
  EXPECT_NEAR(frame.y_min, -2.1, 1e-12);
  EXPECT_NEAR(frame.y_max, 0.1, 1e-12);
  EXPECT_NEAR(frame.y_pixel(0.1) - frame.y_pixel(1.0), frame.y_pixel(0.01) - frame.y_pixel(0.1), 1e-9);
  EXPECT_EQ(stages::render_loss_plot(series, options).width, options.width);
}

TEST(LossPlot, RefusesATinyPicture) {
  stages::LossPlotOptions options;
  options.width = 100;
  EXPECT_THROW(stages::render_loss_plot({}, options), Error);
}

// ---------------------------------------------------------------- loss terms

TEST(AutoencoderLoss, VqCodebookTermAndItsGradientsMatchHandComputation) {
  // h and e: (1, 2, 1, 2), N = 4 elements.
  const std::vector<float> h_values = {0.5f, -1.0f, 2.0f, 0.0f};
  const std::vector<float> e_values = {1.0f, -0.5f, 1.0f, 0.25f};
  double squared = 0;
  for (size_t i = 0; i < 4; ++i) squared += double(e_values[i] - h_values[i]) * (e_values[i] - h_values[i]);
  const double mean_squared = squared / 4;  // (0.25 + 0.25 + 1 + 0.0625) / 4
  ASSERT_DOUBLE_EQ(mean_squared, 0.390625);

  for (bool legacy : {true, false}) {
    auto h = torch::tensor(h_values).view({1, 2, 1, 2}).requires_grad_(true);
    auto e = torch::tensor(e_values).view({1, 2, 1, 2}).requires_grad_(true);
    const auto loss = model::vq_codebook_loss(h, e, 0.25, legacy);
    // sg[] changes no value: both weightings are (1 + beta) * mean((e - h)^2).
    EXPECT_NEAR(loss.item<double>(), 1.25 * 0.390625, 1e-7);
    loss.backward();
    // Legacy: commitment weight 1 on h, beta on the codebook; otherwise swapped.
    const double h_weight = legacy ? 1.0 : 0.25;
    const double e_weight = legacy ? 0.25 : 1.0;
    for (int64_t i = 0; i < 4; ++i) {
      const double difference = double(h_values[size_t(i)]) - e_values[size_t(i)];
      EXPECT_NEAR(h.grad().view({-1})[i].item<double>(), h_weight * 2 * difference / 4, 1e-7) << legacy << i;
      EXPECT_NEAR(e.grad().view({-1})[i].item<double>(), -e_weight * 2 * difference / 4, 1e-7) << legacy << i;
    }
  }
}

TEST(AutoencoderLoss, KlTermMatchesHandComputation) {
  // Moments (2, 2, 1, 1): per sample channels [mean, logvar].
  const auto moments = torch::tensor({0.5f, -0.25f, 1.0f, 0.0f}).view({2, 2, 1, 1});
  const auto posterior = model::DiagonalGaussian::from_moments(moments);
  const auto kl = model::kl_divergence(posterior);
  ASSERT_EQ(kl.sizes(), (std::vector<int64_t>{2}));
  // 0.5 * (m^2 + exp(lv) - 1 - lv)
  EXPECT_NEAR(kl[0].item<double>(), 0.5 * (0.25 + std::exp(-0.25) - 1 + 0.25), 1e-7);
  EXPECT_NEAR(kl[1].item<double>(), 0.5 * (1.0 + 1.0 - 1 - 0.0), 1e-7);
  // The log-variance is clamped to [-30, 20] before, as upstream.
  const auto clamped =
      model::kl_divergence(model::DiagonalGaussian::from_moments(torch::tensor({0.0f, 25.0f}).view({1, 2, 1, 1})));
  EXPECT_NEAR(clamped[0].item<double>(), 0.5 * (std::exp(20.0) - 1 - 20), std::exp(20.0) * 1e-6);
}

std::shared_ptr<model::Autoencoder> tiny_autoencoder(const std::string& config, int seed) {
  testing::TempDir dir;
  const auto weights = dir / "w.safetensors";
  const auto r = run_tessera({"model", "init", "--config", (testing::kLdmConfigs / config).string(), "--seed",
                              std::to_string(seed), "--out", weights.string()});
  EXPECT_EQ(r.exit_code, 0) << r.output;
  auto loaded = runtime::load_autoencoder((testing::kLdmConfigs / config).string(), weights.string());
  loaded.module->train();
  return loaded.module;
}

TEST(AutoencoderLoss, VqTotalIsMeanL1PlusCodebookAndTrainsEncoderThroughTheStraightThroughEstimator) {
  auto vae = tiny_autoencoder("tiny-vq.yaml", 1);
  at::Generator generator = model::make_cpu_generator(5);
  const auto x = torch::rand({2, 3, 32, 32}, generator) * 2 - 1;
  model::AutoencoderLossOptions options;
  const auto loss = model::autoencoder_loss(*vae, x, nullptr, options, generator);
  loss.total.backward();

  torch::NoGradGuard no_grad;
  const auto h = vae->encode_moments(x);
  const auto q = vae->quantize(h);
  const auto e = vae->codebook_lookup(q.indices);
  const auto x_hat = vae->decode_unquantized(e);  // the straight-through value is the code itself
  const double rec = (x - x_hat).abs().mean().item<double>();
  const double codebook = 1.25 * (e - h).pow(2).mean().item<double>();
  EXPECT_NEAR(loss.rec.item<double>(), rec, 1e-6);
  EXPECT_NEAR(loss.regulariser.item<double>(), codebook, 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), rec + codebook, 1e-6);
  EXPECT_EQ(loss.perceptual.item<double>(), 0.0);
  bool encoder_checked = false, codebook_checked = false;
  for (const auto& item : vae->named_parameters()) {
    // The decoder's gradient reaches the encoder past the quantiser.
    if (item.key() == "encoder.conv_in.weight") {
      ASSERT_TRUE(item.value().grad().defined());
      EXPECT_GT(item.value().grad().abs().sum().item<double>(), 0.0);
      encoder_checked = true;
    }
    // Only the codebook rows in use get a gradient.
    if (item.key() == "quantize.embedding.weight") {
      const auto used = torch::bincount(q.indices.flatten(), {}, 64) > 0;
      const auto row_grad = item.value().grad().abs().sum(1);
      EXPECT_GT(row_grad.masked_select(used).min().item<double>(), 0.0);
      EXPECT_EQ(row_grad.masked_select(used.logical_not()).abs().sum().item<double>(), 0.0);
      codebook_checked = true;
    }
  }
  EXPECT_TRUE(encoder_checked && codebook_checked);
}

TEST(AutoencoderLoss, KlTotalSumsL1PerSampleAndAddsWeightedKlOfThePosteriorSample) {
  auto vae = tiny_autoencoder("tiny-kl.yaml", 3);
  at::Generator data = model::make_cpu_generator(5);
  const auto x = torch::rand({2, 3, 32, 32}, data) * 2 - 1;
  model::AutoencoderLossOptions options;
  at::Generator generator = model::make_cpu_generator(11);
  const auto loss = model::autoencoder_loss(*vae, x, nullptr, options, generator);

  torch::NoGradGuard no_grad;
  at::Generator same = model::make_cpu_generator(11);
  const auto posterior = vae->encode_posterior(x);
  const auto noise = torch::randn(posterior.mean.sizes(), same);
  const auto x_hat = vae->decode_unquantized(posterior.mean + posterior.std * noise);
  const double l1_sum = (x - x_hat).abs().sum().item<double>() / 2;
  const double kl = model::kl_divergence(posterior).sum().item<double>() / 2;
  EXPECT_NEAR(loss.regulariser.item<double>(), kl, kl * 1e-6);
  EXPECT_NEAR(loss.total.item<double>(), l1_sum + 1e-6 * kl, l1_sum * 1e-6);
  EXPECT_NEAR(loss.rec.item<double>(), l1_sum / (3 * 32 * 32), 1e-6);
  // The generator advanced exactly by the noise drawn.
  EXPECT_TRUE(torch::equal(generator.get_state(), same.get_state()));
}

// ---------------------------------------------------------------- LPIPS

// An Lpips with random weights (lin weights non-negative, as trained ones are).
std::shared_ptr<model::Lpips> random_lpips(uint64_t seed) {
  auto lpips = std::make_shared<model::Lpips>();
  at::Generator generator = model::make_cpu_generator(seed);
  torch::NoGradGuard no_grad;
  for (auto& item : lpips->named_parameters()) {
    auto& p = item.value();
    const int64_t fan_in = p.dim() == 4 ? p.size(1) * p.size(2) * p.size(3) : 1;
    auto values = torch::randn(p.sizes(), generator) * std::sqrt(2.0 / double(fan_in));
    if (item.key().rfind("lin", 0) == 0) values = values.abs();
    if (item.key().find(".bias") != std::string::npos) values = values * 0.1;
    p.copy_(values);
  }
  return lpips;
}

void save_lpips(const model::Lpips& lpips, const std::string& path, const std::string& prefix) {
  std::vector<model::TensorData> tensors;
  for (const auto& item : lpips.named_parameters()) {
    tensors.push_back(model::from_torch(prefix + item.key(), item.value()));
    // The lpips package's state dict repeats lin<k> as lins.<k>.
    if (item.key().rfind("lin", 0) == 0) {
      tensors.push_back(model::from_torch(prefix + "lins." + item.key().substr(3), item.value()));
    }
  }
  // As the lpips package's state dict carries them.
  tensors.push_back(
      model::from_torch(prefix + "scaling_layer.shift", torch::tensor({-.030f, -.088f, -.188f}).view({1, 3, 1, 1})));
  tensors.push_back(
      model::from_torch(prefix + "scaling_layer.scale", torch::tensor({.458f, .448f, .450f}).view({1, 3, 1, 1})));
  model::write_safetensors(path, tensors);
}

TEST(Lpips, MatchesAStepByStepComputationOnRandomWeights) {
  auto lpips = random_lpips(21);
  std::map<std::string, torch::Tensor> p;
  for (const auto& item : lpips->named_parameters()) p[item.key()] = item.value();
  EXPECT_EQ(p.size(), 13u * 2 + 5);
  EXPECT_EQ(p.at("lin3.model.1.weight").sizes(), (std::vector<int64_t>{1, 512, 1, 1}));
  EXPECT_EQ(p.at("net.slice3.14.weight").sizes(), (std::vector<int64_t>{256, 256, 3, 3}));

  at::Generator generator = model::make_cpu_generator(4);
  const auto x = (torch::rand({2, 3, 16, 16}, generator) * 2 - 1).to(torch::kFloat64);
  const auto y = (torch::rand({2, 3, 16, 16}, generator) * 2 - 1).to(torch::kFloat64);

  // By hand, in float64: scaling layer, VGG16 up to relu5_3, unit norm over
  // channels, squared difference, lin weights summed over channels, mean over
  // positions, summed over the five layers.
  auto conv = [&](const torch::Tensor& in, const std::string& name) {
    return torch::relu(
        torch::conv2d(in, p.at(name + ".weight").to(torch::kFloat64), p.at(name + ".bias").to(torch::kFloat64), 1, 1));
  };
  auto vgg = [&](const torch::Tensor& image) {
    const auto shift = torch::tensor({-.030, -.088, -.188}, torch::kFloat64).view({1, 3, 1, 1});
    const auto scale = torch::tensor({.458, .448, .450}, torch::kFloat64).view({1, 3, 1, 1});
    std::vector<torch::Tensor> features;
    auto h = (image - shift) / scale;
    h = conv(conv(h, "net.slice1.0"), "net.slice1.2");
    features.push_back(h);
    h = conv(conv(torch::max_pool2d(h, 2, 2), "net.slice2.5"), "net.slice2.7");
    features.push_back(h);
    h = conv(conv(conv(torch::max_pool2d(h, 2, 2), "net.slice3.10"), "net.slice3.12"), "net.slice3.14");
    features.push_back(h);
    h = conv(conv(conv(torch::max_pool2d(h, 2, 2), "net.slice4.17"), "net.slice4.19"), "net.slice4.21");
    features.push_back(h);
    h = conv(conv(conv(torch::max_pool2d(h, 2, 2), "net.slice5.24"), "net.slice5.26"), "net.slice5.28");
    features.push_back(h);
    return features;
  };
  const auto fx = vgg(x), fy = vgg(y);
  std::vector<double> expected(2, 0.0);
  for (size_t k = 0; k < 5; ++k) {
    const auto nx = fx[k] / (fx[k].pow(2).sum(1, true).sqrt() + 1e-10);
    const auto ny = fy[k] / (fy[k].pow(2).sum(1, true).sqrt() + 1e-10);
    const auto w = p.at("lin" + std::to_string(k) + ".model.1.weight").to(torch::kFloat64).view({1, -1, 1, 1});
    const auto per_position = ((nx - ny).pow(2) * w).sum(1);  // (B, H, W)
    for (int64_t b = 0; b < 2; ++b) expected[size_t(b)] += per_position[b].mean().item<double>();
  }

  const auto got = lpips->forward(x.to(torch::kFloat32), y.to(torch::kFloat32));
  ASSERT_EQ(got.sizes(), (std::vector<int64_t>{2, 1, 1, 1}));
  for (int64_t b = 0; b < 2; ++b) {
    EXPECT_GT(expected[size_t(b)], 0.0);
    EXPECT_NEAR(got[b].item<double>(), expected[size_t(b)], 2e-5 * expected[size_t(b)]) << b;
  }
  // Identical images are at distance 0; gradients reach the input, not the network.
  EXPECT_EQ(lpips->forward(x.to(torch::kFloat32), x.to(torch::kFloat32)).abs().max().item<double>(), 0.0);
  auto input = x.to(torch::kFloat32).clone().requires_grad_(true);
  lpips->forward(input, y.to(torch::kFloat32)).sum().backward();
  EXPECT_GT(input.grad().abs().sum().item<double>(), 0.0);
  for (const auto& item : lpips->named_parameters()) EXPECT_FALSE(item.value().requires_grad()) << item.key();
}

TEST(Lpips, LoadsTheLpipsPackagesNamesAloneOrInsideATrainingCheckpoint) {
  testing::TempDir dir;
  auto lpips = random_lpips(8);
  at::Generator generator = model::make_cpu_generator(2);
  const auto x = torch::rand({1, 3, 16, 16}, generator) * 2 - 1;
  const auto y = torch::rand({1, 3, 16, 16}, generator) * 2 - 1;
  const double reference = lpips->forward(x, y).item<double>();
  for (const std::string prefix : {"", "loss.perceptual_loss."}) {
    const auto path = (dir / ("lpips" + std::to_string(prefix.size()) + ".safetensors")).string();
    save_lpips(*lpips, path, prefix);
    EXPECT_EQ(model::load_lpips(path)->forward(x, y).item<double>(), reference) << prefix;
  }
  // Not LPIPS weights: an error naming the file and what was looked for.
  const auto other = (dir / "other.safetensors").string();
  model::write_safetensors(other, {model::TensorData::from_floats("encoder.conv_in.weight", {1}, {0.0f})});
  try {
    model::load_lpips(other);
    FAIL() << "no error";
  } catch (const model::WeightsError& e) {
    EXPECT_NE(std::string(e.what()).find(other), std::string::npos) << e.what();
    EXPECT_NE(std::string(e.what()).find("lin0.model.1.weight"), std::string::npos) << e.what();
  }
}

// ---------------------------------------------------------------- train-vae

// One small store for the suite: 64 px tiles at 2 µm/px of small_spec().
class TrainVaeTest : public ::testing::Test {
 protected:
  static void SetUpTestSuite() {
    shared_ = new testing::TempDir();
    testing::make_slide(*shared_ / "slides", std::string(testing::kTestSlideId) + ".tiff", testing::small_spec());
    const auto r =
        run_tessera({"ingest", "--store", (*shared_ / "store").string(), "--slides", (*shared_ / "slides").string(),
                     "--tile", "64", "--mpp", "2", "--progress", "quiet", "--no-qc"});
    ASSERT_EQ(r.exit_code, 0) << r.output;
    for (const auto& [config, seed] : {std::pair<std::string, int>{"tiny-vq.yaml", 1}, {"tiny-kl.yaml", 3}}) {
      const auto out = *shared_ / (config + ".safetensors");
      const auto init = run_tessera({"model", "init", "--config", (testing::kLdmConfigs / config).string(), "--seed",
                                     std::to_string(seed), "--out", out.string()});
      ASSERT_EQ(init.exit_code, 0) << init.output;
    }
    save_lpips(*random_lpips(17), (*shared_ / "lpips.safetensors").string(), "");
  }
  static void TearDownTestSuite() {
    delete shared_;
    shared_ = nullptr;
  }

  static fs::path store_dir() { return *shared_ / "store"; }
  static std::string weights(const std::string& config) { return (*shared_ / (config + ".safetensors")).string(); }
  static std::string lpips_weights() { return (*shared_ / "lpips.safetensors").string(); }

  // On the CPU, where runs and resumes are bit-identical.
  testing::CommandResult train(const std::string& config, const fs::path& out, const std::vector<std::string>& extra,
                               const std::string& init = "") {
    std::vector<std::string> args = {"train-vae",
                                     "--store",
                                     store_dir().string(),
                                     "--config",
                                     (testing::kLdmConfigs / config).string(),
                                     "--init-weights",
                                     init.empty() ? weights(config) : init,
                                     "--out",
                                     out.string(),
                                     "--threads",
                                     "1",
                                     "--device",
                                     "cpu",
                                     "--progress",
                                     "quiet",
                                     "--json"};
    args.insert(args.end(), extra.begin(), extra.end());
    return run_tessera(args);
  }

  testing::TempDir dir_;
  static testing::TempDir* shared_;
};
testing::TempDir* TrainVaeTest::shared_ = nullptr;

TEST_F(TrainVaeTest, VqLossFallsOverAShortCpuRunAndTheRunHasItsOutputs) {
  const auto run = dir_ / "run";
  const auto r = train("tiny-vq.yaml", run,
                       {"--steps", "40", "--batch", "4", "--lr", "1e-3", "--seed", "3", "--checkpoint-every", "15"});
  ASSERT_EQ(r.exit_code, 0) << r.output;
  EXPECT_NE(r.output.find("perceptual (LPIPS) term is off"), std::string::npos) << r.output;
  const auto losses = losses_of(run / "loss.csv");
  ASSERT_EQ(losses.size(), 40u);
  EXPECT_EQ(lines_of(run / "loss.csv")[0], "step,loss,rec,codebook_or_kl,perceptual,lr");
  const double first = mean_of(losses, 0, 8), last = mean_of(losses, 32, 40);
  EXPECT_LT(last, 0.75 * first) << "first window " << first << ", last window " << last;

  for (const char* name : {"step-00000015.safetensors", "step-00000030.safetensors", "step-00000040.safetensors",
                           "step-00000040.train.safetensors"}) {
    EXPECT_TRUE(fs::exists(run / "checkpoints" / name)) << name;
  }
  // Only the newest resumable state is kept.
  EXPECT_FALSE(fs::exists(run / "checkpoints" / "step-00000030.train.safetensors"));
  const auto image = stages::read_image((run / "loss.png").string());
  EXPECT_EQ(image.width, 1000);
  EXPECT_EQ(image.height, 600);

  // Weights under the autoencoder's own names, which `encode` reads; the
  // final checkpoint and vae.safetensors hold the same bytes.
  const auto file = model::SafetensorsFile::open((run / "vae.safetensors").string());
  EXPECT_NE(file.find("quantize.embedding.weight"), nullptr);
  EXPECT_NE(file.find("encoder.conv_in.weight"), nullptr);
  for (const auto& view : file.tensors()) EXPECT_EQ(view.name.rfind("train.", 0), std::string::npos) << view.name;
  EXPECT_TRUE(tessera::read_file(run / "vae.safetensors") ==
              tessera::read_file(run / "checkpoints" / "step-00000040.safetensors"))
      << "the weight files differ";

  const auto summary = json_of(r);
  const auto manifest = nlohmann::json::parse(tessera::read_file(run / "run.json"));
  const auto reloaded =
      runtime::load_autoencoder((testing::kLdmConfigs / "tiny-vq.yaml").string(), (run / "vae.safetensors").string());
  EXPECT_EQ(manifest["model_id"], reloaded.id);
  EXPECT_EQ(summary["model_id"], reloaded.id);
  EXPECT_EQ(manifest["init_model_id"],
            runtime::load_autoencoder((testing::kLdmConfigs / "tiny-vq.yaml").string(), weights("tiny-vq.yaml")).id);
  EXPECT_NE(manifest["model_id"], manifest["init_model_id"]);
  EXPECT_EQ(manifest["steps"], 40);
  EXPECT_EQ(manifest["batch"], 4);
  EXPECT_EQ(manifest["seed"], 3);
  EXPECT_EQ(manifest["learning_rate"], 1e-3);
  EXPECT_EQ(manifest["crop"], 32);
  EXPECT_EQ(manifest["store"], fs::absolute(store_dir()).string());
}

// k steps, then --resume to 2k steps, equals 2k steps at once: the same loss
// rows bit for bit, the same weight bytes. Checked on KL with the perceptual
// term (the generator's state, LPIPS) and on VQ after a kill that lost the
// newest checkpoint (rows after the older one are dropped and redone).
TEST_F(TrainVaeTest, KlResumeContinuesExactlyWithThePerceptualTerm) {
  const std::vector<std::string> common = {
      "--batch", "2", "--lr", "1e-3", "--seed", "9", "--perceptual-weights", lpips_weights(), "--checkpoint-every",
      "4"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return extra;
  };
  const auto whole = dir_ / "whole";
  const auto parts = dir_ / "parts";
  ASSERT_EQ(train("tiny-kl.yaml", whole, with({"--steps", "10"})).exit_code, 0);
  ASSERT_EQ(train("tiny-kl.yaml", parts, with({"--steps", "5"})).exit_code, 0);
  const auto resumed = train("tiny-kl.yaml", parts, with({"--steps", "10", "--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["first_step"], 5);

  const auto whole_rows = lines_of(whole / "loss.csv");
  ASSERT_EQ(whole_rows.size(), 11u);
  EXPECT_EQ(lines_of(parts / "loss.csv"), whole_rows);
  // The perceptual column (the fifth) is live.
  std::vector<std::string> fields;
  std::stringstream row(whole_rows[1]);
  for (std::string field; std::getline(row, field, ',');) fields.push_back(field);
  ASSERT_EQ(fields.size(), 6u);
  EXPECT_GT(std::stod(fields[4]), 0.0);
  EXPECT_TRUE(tessera::read_file(parts / "vae.safetensors") == tessera::read_file(whole / "vae.safetensors"))
      << "the weight files differ";
  EXPECT_EQ(nlohmann::json::parse(tessera::read_file(parts / "run.json"))["model_id"],
            nlohmann::json::parse(tessera::read_file(whole / "run.json"))["model_id"]);
}

TEST_F(TrainVaeTest, VqResumeAfterLosingTheNewestCheckpointRedoesTheLostStepsExactly) {
  const std::vector<std::string> common = {"--batch", "3", "--lr", "1e-3", "--seed", "4", "--checkpoint-every", "4"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return extra;
  };
  const auto whole = dir_ / "whole";
  const auto parts = dir_ / "parts";
  ASSERT_EQ(train("tiny-vq.yaml", whole, with({"--steps", "12"})).exit_code, 0);
  ASSERT_EQ(train("tiny-vq.yaml", parts, with({"--steps", "7"})).exit_code, 0);
  // As a kill after step 7 but before its checkpoint would leave it: loss.csv
  // has rows 5..7 past the step-4 checkpoint (whose state is gone, so put
  // one back from a run stopped there).
  fs::remove(parts / "checkpoints" / "step-00000007.safetensors");
  fs::remove(parts / "checkpoints" / "step-00000007.train.safetensors");
  fs::remove(parts / "vae.safetensors");
  fs::remove(parts / "run.json");
  const auto at_four = dir_ / "at-four";
  ASSERT_EQ(train("tiny-vq.yaml", at_four, with({"--steps", "4"})).exit_code, 0);
  fs::copy_file(at_four / "checkpoints" / "step-00000004.train.safetensors",
                parts / "checkpoints" / "step-00000004.train.safetensors");
  ASSERT_EQ(lines_of(parts / "loss.csv").size(), 8u);

  const auto resumed = train("tiny-vq.yaml", parts, with({"--steps", "12", "--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["first_step"], 4);
  EXPECT_EQ(lines_of(parts / "loss.csv"), lines_of(whole / "loss.csv"));
  EXPECT_TRUE(tessera::read_file(parts / "vae.safetensors") == tessera::read_file(whole / "vae.safetensors"))
      << "the weight files differ";

  // Resuming a finished run changes nothing; other settings are refused.
  const auto again = train("tiny-vq.yaml", parts, with({"--steps", "12", "--resume"}));
  ASSERT_EQ(again.exit_code, 0) << again.output;
  EXPECT_EQ(lines_of(parts / "loss.csv"), lines_of(whole / "loss.csv"));
  auto other_seed = with({"--steps", "14", "--resume"});
  ASSERT_EQ(other_seed[7], "--seed");
  other_seed[8] = "5";
  const auto refused = train("tiny-vq.yaml", parts, other_seed);
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("seed 4, this run has 5"), std::string::npos) << refused.output;
  EXPECT_EQ(lines_of(parts / "loss.csv"), lines_of(whole / "loss.csv"));
}

TEST_F(TrainVaeTest, ResumingFromADamagedCheckpointFailsNamingTheFile) {
  const std::vector<std::string> common = {"--batch", "3", "--seed", "4", "--checkpoint-every", "4"};
  auto with = [&](std::vector<std::string> extra) {
    extra.insert(extra.end(), common.begin(), common.end());
    return extra;
  };
  const auto run = dir_ / "run";
  ASSERT_EQ(train("tiny-vq.yaml", run, with({"--steps", "4"})).exit_code, 0);
  // The training state and the weights are each verified before they are read.
  for (const char* name : {"step-00000004.train.safetensors", "step-00000004.safetensors"}) {
    const auto file = run / "checkpoints" / name;
    EXPECT_TRUE(fs::exists(file.string() + ".xxh128")) << file;
    const std::string intact = tessera::read_file(file);
    std::string damaged = intact;
    damaged[damaged.size() * 2 / 3] ^= 0x10;  // inside the tensor data
    tessera::write_file(file, damaged);
    const auto refused = train("tiny-vq.yaml", run, with({"--steps", "8", "--resume"}));
    EXPECT_EQ(refused.exit_code, 1) << refused.output;
    EXPECT_NE(refused.output.find(file.string() + ": checksum mismatch"), std::string::npos) << refused.output;
    EXPECT_EQ(lines_of(run / "loss.csv").size(), 1u + 4u) << "trained on a damaged " << name;
    tessera::write_file(file, intact);
  }
  const auto resumed = train("tiny-vq.yaml", run, with({"--steps", "8", "--resume"}));
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(json_of(resumed)["first_step"], 4);
}

TEST_F(TrainVaeTest, NewWeightsAreANewModelThatEncodeEncodesForEveryTileBesideTheOld) {
  const auto store = dir_ / "store";
  fs::copy(store_dir(), store, fs::copy_options::recursive);
  const auto encode = [&](const std::string& weights) {
    return run_tessera({"encode", "--store", store.string(), "--vae-config",
                        (testing::kLdmConfigs / "tiny-vq.yaml").string(), "--vae-weights", weights, "--progress",
                        "quiet", "--json", "--threads", "1"});
  };
  const auto before = encode(weights("tiny-vq.yaml"));
  ASSERT_EQ(before.exit_code, 0) << before.output;
  const std::string old_id = json_of(before)["model_id"];
  const uint64_t tiles = json_of(before)["tiles_encoded"];
  ASSERT_GT(tiles, 10u);

  const auto run = dir_ / "run";
  const std::vector<std::string> args = {"train-vae",
                                         "--store",
                                         store.string(),
                                         "--config",
                                         (testing::kLdmConfigs / "tiny-vq.yaml").string(),
                                         "--init-weights",
                                         weights("tiny-vq.yaml"),
                                         "--out",
                                         run.string(),
                                         "--steps",
                                         "3",
                                         "--lr",
                                         "1e-3",
                                         "--threads",
                                         "1",
                                         "--progress",
                                         "quiet"};
  const auto trained = run_tessera(args);
  ASSERT_EQ(trained.exit_code, 0) << trained.output;
  const std::string new_id = nlohmann::json::parse(tessera::read_file(run / "run.json"))["model_id"];
  EXPECT_NE(trained.output.find("new model id " + new_id), std::string::npos) << trained.output;
  EXPECT_NE(trained.output.find("--vae-weights " + (run / "vae.safetensors").string()), std::string::npos);

  const auto after = encode((run / "vae.safetensors").string());
  ASSERT_EQ(after.exit_code, 0) << after.output;
  EXPECT_EQ(json_of(after)["model_id"], new_id);
  EXPECT_NE(new_id, old_id);
  EXPECT_EQ(json_of(after)["tiles_encoded"].get<uint64_t>(), tiles);
  EXPECT_EQ(json_of(after)["tiles_present"].get<uint64_t>(), 0u);
  store::StoreOptions ro;
  ro.read_only = true;
  auto opened = store::Store::open(store, ro);
  EXPECT_EQ(opened->count_latents(old_id), tiles);
  EXPECT_EQ(opened->count_latents(new_id), tiles);
  EXPECT_EQ(opened->count_tiles(testing::kTestSlideId), tiles);
}

TEST_F(TrainVaeTest, ASecondTrainingOfARunInUseIsRefused) {
  const auto run = dir_ / "run";
  ASSERT_EQ(train("tiny-vq.yaml", run, {"--steps", "2"}).exit_code, 0);
  {
    // A first run still writing: a second one, fresh or resumed, is refused.
    const FolderLock first(run);
    for (const bool resume : {false, true}) {
      const auto second = train(
          "tiny-vq.yaml", run,
          resume ? std::vector<std::string>{"--steps", "4", "--resume"} : std::vector<std::string>{"--steps", "4"});
      EXPECT_EQ(second.exit_code, 1) << second.output;
      EXPECT_NE(second.output.find(run.string() + " is in use by another tessera process"), std::string::npos)
          << second.output;
      EXPECT_EQ(losses_of(run / "loss.csv").size(), 2u) << "the refused run wrote into the folder";
    }
  }
  // What kill -9 leaves behind: the lock file, with no lock on it.
  std::ofstream(run / FolderLock::kFileName) << "12345\n";
  const auto resumed = train("tiny-vq.yaml", run, {"--steps", "4", "--resume"});
  ASSERT_EQ(resumed.exit_code, 0) << resumed.output;
  EXPECT_EQ(losses_of(run / "loss.csv").size(), 4u);
  const fs::path fresh = dir_ / "stale-lock";
  fs::create_directories(fresh);
  std::ofstream(fresh / FolderLock::kFileName) << "12345\n";
  ASSERT_EQ(train("tiny-vq.yaml", fresh, {"--steps", "2"}).exit_code, 0) << "a lock file alone counts as empty";
}

TEST_F(TrainVaeTest, BadInputsAreClearErrorsAndWriteNothing) {
  const auto run = dir_ / "run";
  auto expect_refused = [&](const testing::CommandResult& r, const std::string& needle) {
    EXPECT_EQ(r.exit_code, 1) << r.output;
    EXPECT_NE(r.output.find(needle), std::string::npos) << r.output;
    EXPECT_FALSE(fs::exists(run)) << needle;
  };

  // A store without complete slides.
  const auto empty = dir_ / "empty-store";
  store::Store::open(empty);
  {
    std::vector<std::string> args = {"train-vae",
                                     "--store",
                                     empty.string(),
                                     "--config",
                                     (testing::kLdmConfigs / "tiny-vq.yaml").string(),
                                     "--init-weights",
                                     weights("tiny-vq.yaml"),
                                     "--out",
                                     run.string(),
                                     "--progress",
                                     "quiet"};
    expect_refused(run_tessera(args), "has no complete slides");
  }
  // KL config, VQ weights.
  expect_refused(train("tiny-kl.yaml", run, {"--steps", "2"}, weights("tiny-vq.yaml")), "do not match the model");
  // A truncated weights file, named.
  const auto truncated = dir_ / "truncated.safetensors";
  {
    const std::string bytes = tessera::read_file(weights("tiny-vq.yaml"));
    std::ofstream(truncated, std::ios::binary) << bytes.substr(0, bytes.size() / 2);
  }
  expect_refused(train("tiny-vq.yaml", run, {"--steps", "2"}, truncated.string()), truncated.string());
  // Perceptual weights that are not LPIPS.
  expect_refused(train("tiny-vq.yaml", run, {"--steps", "2", "--perceptual-weights", weights("tiny-vq.yaml")}),
                 "not LPIPS");
  // A bad flag is a usage error.
  const auto usage = train("tiny-vq.yaml", run, {"--steps", "0"});
  EXPECT_EQ(usage.exit_code, 2) << usage.output;
  EXPECT_FALSE(fs::exists(run));

  // A non-empty run folder without --resume is refused and left alone.
  fs::create_directories(run);
  std::ofstream(run / "notes.txt") << "mine";
  const auto refused = train("tiny-vq.yaml", run, {"--steps", "2"});
  EXPECT_EQ(refused.exit_code, 1);
  EXPECT_NE(refused.output.find("is not empty: pass --resume"), std::string::npos) << refused.output;
  EXPECT_EQ(std::vector<fs::path>(fs::directory_iterator(run), fs::directory_iterator()),
            std::vector<fs::path>{run / "notes.txt"});
}

}  // namespace
}  // namespace tessera
