#include "runtime/ldm_training.h"

#include <torch/torch.h>

#include <utility>
#include <vector>

#include "base/error.h"
#include "latent_batch_reader.h"
#include "model/device.h"
#include "model/distributed.h"
#include "model/init.h"
#include "model/lr_schedule.h"
#include "model/noise_schedule.h"
#include "model/safetensors.h"
#include "model/trainer.h"
#include "model/training_checkpoint.h"
#include "model/unet.h"
#include "model_parts.h"
#include "runtime/checkpoint_checksum.h"
#include "runtime/latent_samples.h"

namespace tessera::runtime {
namespace {

torch::Device training_device(const std::string& requested, const model::DistributedEnv& env) {
  torch::Device device = model::resolve_device(requested);
  // One process per GPU under torchrun: LOCAL_RANK picks it unless the user did.
  if (device.is_cuda() && env.distributed() && requested.find(':') == std::string::npos) {
    device = torch::Device(torch::kCUDA, torch::DeviceIndex(env.local_rank));
  }
  return device;
}

void check_precision(const torch::Device& device, model::Precision precision, const std::string& dtype) {
  if (device.is_cpu() && precision != model::Precision::kFp32) {
    throw Error("--dtype " + dtype + " needs a GPU; on the CPU training runs in fp32");
  }
  // fp16 needs dynamic loss scaling against underflowing gradients; bf16 has
  // fp32's range and needs none.
  if (precision == model::Precision::kFp16) throw Error("--dtype fp16 is not supported for training; use bf16");
}

void check_samples_fit(const LdmTrainingOptions& options, const LatentSamples& samples) {
  const auto& unet = *options.config.unet;
  const std::string config = options.config_path.string();
  const auto& ids = samples.options();
  if (samples.latent_shape()[0] != unet.in_channels) {
    throw Error(config + ": the UNet takes " + std::to_string(unet.in_channels) + " latent channels, but model " +
                ids.vae_model_id + "'s latents have " + std::to_string(samples.latent_shape()[0]));
  }
  if (unet.use_spatial_transformer && samples.context_width() != unet.context_dim) {
    throw Error(config + ": the UNet's context_dim is " + std::to_string(unet.context_dim) + ", but text model " +
                ids.text_model_id + "'s embeddings are " + std::to_string(samples.context_width()) + " wide");
  }
  if (options.config.training.gradient_checkpointing && unet.dropout > 0) {
    throw Error(config +
                ": training.gradient_checkpointing needs unet_config dropout 0: the recomputation would draw other "
                "dropout masks");
  }
}

std::shared_ptr<model::UNet> make_denoiser(const LdmTrainingOptions& options) {
  std::shared_ptr<model::UNet> unet;
  if (options.init_weights.empty()) {
    unet = std::make_shared<model::UNet>(*options.config.unet);
    model::initialize_unet(*unet, options.seed);
  } else {
    // The builder every command loads with: a whole LDM or the UNet alone.
    auto part = unet_part(*options.config.unet);
    load_part_weights(part, model::WeightsSet::open(options.init_weights));
    unet = std::static_pointer_cast<model::UNet>(part.module);
    unet->train();
  }
  unet->set_gradient_checkpointing(options.config.training.gradient_checkpointing);
  return unet;
}

model::DiffusionProcess diffusion_process(const config::DiffusionParams& d, const torch::Device& device) {
  const auto betas =
      model::make_beta_schedule(d.beta_schedule, int(d.timesteps), d.linear_start, d.linear_end, d.cosine_s);
  return model::DiffusionProcess(
      model::make_diffusion_schedule(betas),
      d.parameterization == config::Parameterization::kV ? model::Parameterization::kV : model::Parameterization::kEps,
      device);
}

model::LrSchedule lr_schedule(const config::TrainingParams& t) {
  if (!t.schedule) return model::constant_lr_schedule();
  const auto& s = *t.schedule;
  return model::LambdaLinearScheduler(s.warm_up_steps, s.f_start, s.f_min, s.f_max, s.cycle_lengths);
}

model::TrainerOptions trainer_options(const LdmTrainingOptions& options, const model::DistributedEnv& env) {
  const config::TrainingParams& t = options.config.training;
  model::TrainerOptions o;
  o.base_learning_rate = t.base_learning_rate;
  o.weight_decay = t.weight_decay;
  o.accumulate = t.accumulate_grad_batches;
  o.max_grad_norm = t.gradient_clip_val;
  o.use_ema = t.use_ema;
  o.ema_decay = t.ema_decay;
  o.seed = options.seed;
  o.data_parallel_rank = env.rank;
  o.data_parallel_world_size = env.world_size;
  return o;
}

}  // namespace

struct LdmTraining::Impl {
  model::DistributedEnv env;
  torch::Device device = torch::kCPU;
  model::Precision precision = model::Precision::kFp32;
  int64_t micro_batch = 0;
  int64_t accumulate = 0;
  size_t samples = 0;
  LatentBatchReader reader;
  std::unique_ptr<model::LdmTrainer> trainer;
  std::unique_ptr<model::DataParallel> parallel;

  explicit Impl(const LatentSamples& listed) : samples(listed.samples().size()), reader(listed) {}

  int64_t per_process() const { return micro_batch * accumulate; }
  int64_t global_batch() const { return per_process() * env.world_size; }
};

bool main_training_process() { return model::distributed_env_from_environment().rank == 0; }

LdmTraining::LdmTraining(const LdmTrainingOptions& options, const LatentSamples& samples)
    : impl_(std::make_unique<Impl>(samples)) {
  auto& m = *impl_;
  m.env = model::distributed_env_from_environment();
  m.device = training_device(options.device, m.env);
  m.precision = model::parse_precision(options.dtype);
  m.micro_batch = options.config.training.batch_size;
  m.accumulate = options.config.training.accumulate_grad_batches;
  check_precision(m.device, m.precision, options.dtype);
  check_samples_fit(options, samples);
  if (m.device.is_cpu()) model::set_cpu_threads(options.threads);

  auto unet = make_denoiser(options);
  model::place_module(*unet, m.device);
  m.trainer =
      std::make_unique<model::LdmTrainer>(unet, diffusion_process(options.config.diffusion, m.device),
                                          trainer_options(options, m.env), lr_schedule(options.config.training));
  m.parallel = std::make_unique<model::DataParallel>(m.env, m.device);
  if (m.env.distributed()) {
    m.parallel->broadcast_parameters(*unet);
    m.trainer->set_after_backward(
        [parallel = m.parallel.get()](torch::nn::Module& module) { parallel->average_gradients(module); });
  }
}

LdmTraining::~LdmTraining() = default;

int64_t LdmTraining::rank() const { return impl_->env.rank; }
int64_t LdmTraining::world_size() const { return impl_->env.world_size; }
int64_t LdmTraining::global_batch() const { return impl_->global_batch(); }
std::string LdmTraining::device() const { return impl_->device.str(); }
std::string LdmTraining::backend() const { return impl_->parallel->backend(); }
int64_t LdmTraining::step_count() const { return impl_->trainer->step_count(); }

void LdmTraining::resume(const std::filesystem::path& checkpoint) {
  model::load_training_checkpoint(checkpoint.string(), *impl_->trainer);
}

void LdmTraining::save(const std::filesystem::path& checkpoint, const RunSettings& settings) const {
  if (!main_process()) return;
  model::save_training_checkpoint(checkpoint.string(), *impl_->trainer, settings);
  write_checksum(checkpoint);
}

LdmStepLoss LdmTraining::step() {
  auto& m = *impl_;
  const auto positions =
      step_positions(m.trainer->step_count(), m.global_batch(), m.env.rank, m.per_process(), m.samples);
  std::vector<model::TrainingBatch> micro_batches;
  for (int64_t i = 0; i < m.accumulate; ++i) {
    const std::vector<SamplePosition> part(positions.begin() + i * m.micro_batch,
                                           positions.begin() + (i + 1) * m.micro_batch);
    const auto batch = m.reader.read(part);
    micro_batches.push_back({model::to_device(batch.latents, m.device), model::to_device(batch.context, m.device)});
  }
  LdmStepLoss result;
  result.epoch = positions.front().epoch;
  {
    model::AutocastScope autocast(m.device, m.precision);
    result.loss = m.trainer->step(micro_batches);
  }
  result.loss = m.parallel->all_reduce_mean(result.loss);
  result.learning_rate = m.trainer->last_learning_rate();
  result.grad_norm = m.trainer->last_grad_norm();
  return result;
}

bool LdmTraining::any_process_stopping(bool stop_requested) {
  return impl_->parallel->all_reduce_mean(stop_requested ? 1.0 : 0.0) > 0;
}

void LdmTraining::barrier() { impl_->parallel->barrier(); }

}  // namespace tessera::runtime
