#include "runtime/image_sampler.h"

#include <torch/torch.h>

#include <chrono>
#include <cstring>

#include "base/error.h"
#include "base/number_text.h"
#include "config/ldm_config.h"
#include "model/autoencoder.h"
#include "model/device.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/sampler.h"
#include "model/unet.h"
#include "runtime/model_loading.h"
#include "runtime/tensor_records.h"

namespace tessera::runtime {
namespace {

model::DiffusionSchedule schedule_of(const config::DiffusionParams& d, const std::string& config_path) {
  // DDPM's posterior variance mixes in the betas when v_posterior > 0;
  // model/noise_schedule.h derives LDM's default (0) only.
  if (d.v_posterior != 0.0) {
    throw Error(config_path + ": v_posterior " + std::to_string(d.v_posterior) +
                " is not supported (only 0, LDM's default)");
  }
  try {
    return model::make_diffusion_schedule(
        model::make_beta_schedule(d.beta_schedule, int(d.timesteps), d.linear_start, d.linear_end, d.cosine_s));
  } catch (const std::invalid_argument& e) {
    throw Error(config_path + ": " + e.what());
  }
}

// LDM's scale_factor, or with scale_by_std the buffer training stored in the
// checkpoint (1 / std of the first batch's latents).
float scale_factor_of(const config::DiffusionParams& d, const std::string& config_path,
                      const std::string& weights_path) {
  if (!d.scale_by_std) return float(d.scale_factor);
  const auto weights = model::WeightsSet::open(weights_path);
  const auto* tensor = weights.find("scale_factor");
  if (!tensor || tensor->element_count() != 1) {
    throw Error(config_path + " sets scale_by_std, but " + weights_path +
                " has no one-element \"scale_factor\" tensor to take the scale from");
  }
  return tensor->to_float32()[0];
}

}  // namespace

struct ImageSampler::Impl {
  LoadedUNet unet;
  LoadedAutoencoder vae;
  torch::Device device = torch::kCPU;
  model::Precision precision = model::Precision::kFp32;
  std::unique_ptr<model::DiffusionProcess> process;
  std::unique_ptr<model::DdimSampler> ddim;
  std::unique_ptr<model::DdpmSampler> ddpm;
  std::string sampler_name;
  double eta = 0;
  double guidance = 1;
  int64_t latent_channels = 0;
  int64_t latent_side = 0;
  float scale_factor = 1.0f;
  int threads = 0;
  double unet_seconds = 0;
};

ImageSampler::ImageSampler(const ImageSamplerOptions& options) : impl_(std::make_unique<Impl>()) {
  // NaN fails both comparisons.
  if (!(options.guidance >= 0 && options.guidance <= config::kMaxGuidance)) {
    throw Error("--guidance " + shortest_decimal(options.guidance) + " is outside [0, " +
                shortest_decimal(config::kMaxGuidance) + "]");
  }
  if (!(options.eta >= 0 && options.eta <= config::kMaxDdimEta)) {
    throw Error("--eta " + shortest_decimal(options.eta) + " is outside [0, " + shortest_decimal(config::kMaxDdimEta) +
                "]");
  }
  auto& m = *impl_;
  m.device = model::resolve_device(options.device);
  m.precision = model::parse_precision(options.compute_dtype);
  if (m.device.is_cpu() && m.precision != model::Precision::kFp32) {
    throw Error("--dtype " + options.compute_dtype + " needs a GPU; on the CPU the models run in fp32");
  }
  m.threads = options.threads;
  if (m.device.is_cpu()) model::set_cpu_threads(options.threads);

  const auto ldm = config::read_ldm_config(options.config);
  const auto& d = ldm.diffusion;
  if (d.conditioning_key != "crossattn") {
    throw Error(options.config + ": conditioning_key '" + d.conditioning_key +
                "': only text-conditioned (crossattn) models generate from prompts");
  }
  m.unet = load_unet(options.config, options.unet_weights);
  m.vae = load_autoencoder(options.vae_config, options.vae_weights);
  if (m.unet.context_dim <= 0) throw Error(options.config + ": the UNet has no context_dim to condition on");
  m.latent_channels = d.channels;
  m.latent_side = d.image_size;
  const int64_t embed_dim = m.vae.module->config().embed_dim;
  if (m.unet.in_channels != d.channels || embed_dim != d.channels) {
    throw Error(options.config + ": latents have " + std::to_string(d.channels) + " channels (model.params.channels)" +
                ", the UNet takes " + std::to_string(m.unet.in_channels) + " and the first stage " +
                options.vae_config + " makes " + std::to_string(embed_dim));
  }
  if (d.image_size % m.unet.downsample != 0) {
    throw Error(options.config + ": model.params.image_size " + std::to_string(d.image_size) +
                " is not divisible by the UNet's downsampling factor " + std::to_string(m.unet.downsample));
  }
  m.scale_factor = scale_factor_of(d, options.config, options.unet_weights);

  const auto parameterization =
      d.parameterization == config::Parameterization::kV ? model::Parameterization::kV : model::Parameterization::kEps;
  m.process = std::make_unique<model::DiffusionProcess>(schedule_of(d, options.config), parameterization, m.device);
  m.guidance = options.guidance;
  try {
    if (options.sampler == "ddim") {
      m.ddim = std::make_unique<model::DdimSampler>(*m.process, options.steps, options.eta, options.guidance);
      m.eta = options.eta;
    } else if (options.sampler == "ddpm") {
      m.ddpm = std::make_unique<model::DdpmSampler>(*m.process, options.guidance);
    } else {
      throw Error("--sampler " + options.sampler + ": expected ddim or ddpm");
    }
  } catch (const std::invalid_argument& e) {
    throw Error("--sampler " + options.sampler + " --steps " + std::to_string(options.steps) + " --eta " +
                std::to_string(options.eta) + ": " + e.what());
  }
  m.sampler_name = options.sampler;
  model::place_module(*m.unet.module, m.device);
  model::place_module(*m.vae.module, m.device);
}

ImageSampler::~ImageSampler() = default;

const std::string& ImageSampler::unet_id() const { return impl_->unet.id; }
const std::string& ImageSampler::first_stage_id() const { return impl_->vae.id; }
const std::string& ImageSampler::sampler_name() const { return impl_->sampler_name; }
int64_t ImageSampler::steps() const { return impl_->ddim ? impl_->ddim->num_steps() : impl_->ddpm->num_steps(); }
double ImageSampler::eta() const { return impl_->eta; }
double ImageSampler::guidance() const { return impl_->guidance; }
int ImageSampler::image_side() const { return int(impl_->latent_side * impl_->vae.downsample); }
bool ImageSampler::on_gpu() const { return impl_->device.is_cuda(); }
double ImageSampler::unet_seconds() const { return impl_->unet_seconds; }

std::vector<stages::RgbImage> ImageSampler::sample(const std::vector<const store::TensorRecord*>& contexts,
                                                   const store::TensorRecord& unconditional,
                                                   const std::vector<uint64_t>& noise_seeds, uint64_t step_seed) {
  auto& m = *impl_;
  if (contexts.empty()) return {};
  if (noise_seeds.size() != contexts.size()) throw Error("one noise seed per image is needed");
  const auto check = [&](const store::TensorRecord& record) {
    if (record.shape.size() != 2 || int64_t(record.shape[1]) != m.unet.context_dim ||
        record.shape[0] != unconditional.shape[0]) {
      std::string shape;
      for (const auto s : record.shape) shape += (shape.empty() ? "" : ", ") + std::to_string(s);
      throw Error("a text context of shape [" + shape + "] does not fit the UNet's context width " +
                  std::to_string(m.unet.context_dim) + " (or the unconditional context's length)");
    }
  };
  check(unconditional);
  const int64_t batch = int64_t(contexts.size());
  std::vector<torch::Tensor> conds, starts;
  for (size_t i = 0; i < contexts.size(); ++i) {
    check(*contexts[i]);
    conds.push_back(to_float_tensor(*contexts[i]));
    auto generator = model::make_cpu_generator(noise_seeds[i]);
    starts.push_back(torch::randn({m.latent_channels, m.latent_side, m.latent_side}, generator,
                                  torch::TensorOptions().dtype(torch::kFloat32)));
  }
  // The intra-op thread count is per calling thread under OpenMP, and a
  // graph node may call from a thread that never set it.
  if (m.device.is_cpu()) model::set_cpu_threads(m.threads);
  torch::NoGradGuard no_grad;
  const torch::Tensor cond = torch::stack(conds).to(m.device);
  const torch::Tensor uncond =
      to_float_tensor(unconditional).unsqueeze(0).expand({batch, -1, -1}).contiguous().to(m.device);
  const torch::Tensor x_T = torch::stack(starts).to(m.device);
  const std::vector<int64_t> shape = {batch, m.latent_channels, m.latent_side, m.latent_side};
  const bool cuda = m.device.is_cuda();
  const model::Denoiser denoiser = [&m, cuda](const torch::Tensor& x, const torch::Tensor& t, const torch::Tensor& c) {
    const auto start = std::chrono::steady_clock::now();
    torch::Tensor out = m.unet.module->forward(x, t, c);
    if (cuda) torch::cuda::synchronize(m.device.index());
    m.unet_seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
    return out;
  };

  torch::Tensor pixels;
  {
    model::AutocastScope autocast(m.device, m.precision);
    auto generator = model::make_cpu_generator(step_seed);
    const torch::Tensor latents = m.ddim ? m.ddim->sample(denoiser, shape, cond, uncond, generator, {}, x_T)
                                         : m.ddpm->sample(denoiser, shape, cond, uncond, generator, {}, x_T);
    pixels = m.vae.module->decode(latents.to(torch::kFloat32) / m.scale_factor);
  }
  // b h w c bytes
  pixels = pixels.to(torch::kFloat32).clamp(-1.0, 1.0).add(1.0).mul(127.5).round().to(torch::kUInt8);
  pixels = pixels.permute({0, 2, 3, 1}).contiguous().to(torch::kCPU);
  std::vector<stages::RgbImage> images;
  const int height = int(pixels.size(1)), width = int(pixels.size(2));
  const size_t bytes = size_t(width) * size_t(height) * 3;
  for (int64_t i = 0; i < batch; ++i) {
    stages::RgbImage image(width, height);
    std::memcpy(image.pixels.data(), pixels.data_ptr<uint8_t>() + size_t(i) * bytes, bytes);
    images.push_back(std::move(image));
  }
  return images;
}

}  // namespace tessera::runtime
