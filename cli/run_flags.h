#pragma once

// Flags shared by the commands: where and how a model runs, how progress
// shows, and where CLIP's vocabulary is.

#include <CLI/CLI.hpp>
#include <cstdint>
#include <limits>
#include <optional>
#include <string>

#include "base/thread_limit.h"
#include "flag_checks.h"
#include "pipeline/shard.h"
#include "prompts/clip_vocabulary.h"
#include "runtime/latent_encoder.h"
#include "runtime/model_batch.h"
#include "runtime/text_encoder.h"

namespace tessera::cli {

struct RunFlags {
  std::string device = "auto";
  std::string dtype = "fp32";
  std::string stored_dtype = "fp16";
  int threads = 0;
};

// --threads: CPU threads for the model, 0..kMaxThreads (0 = one per core).
inline CLI::Option* add_threads_flag(CLI::App* cmd, int& threads) {
  return cmd->add_option("--threads", threads, "CPU threads for the model (0 = one per core)")
      ->capture_default_str()
      ->check(number_within(0, kMaxThreads));
}

// --shard I/N|auto|auto/N (pipeline/shard.h): this task's slides of a
// cohort; the spec is read when the command runs, so `auto` sees the
// scheduler's variables then.
inline CLI::Option* add_shard_flag(CLI::App* cmd, std::string& spec) {
  return cmd->add_option("--shard", spec,
                         "Only this shard's slides: I/N (0-based), or auto (a SLURM array task or, as auto/N, a "
                         "Kubernetes indexed Job); docs/SCALE_OUT.md");
}
inline std::optional<pipeline::Shard> shard_of_flag(const std::string& spec) {
  if (spec.empty()) return std::nullopt;
  return pipeline::parse_shard(spec, pipeline::process_environment());
}

// --jobs: worker threads of a stage, 0..kMaxThreads (0 = one per core).
inline CLI::Option* add_jobs_flag(CLI::App* cmd, int& jobs, const std::string& help) {
  return cmd->add_option("--jobs", jobs, help + " (0 = one per core)")
      ->capture_default_str()
      ->check(number_within(0, kMaxThreads));
}

// --steps of a training run: the optimiser step it ends at, at least 1.
inline CLI::Option* add_training_steps_flag(CLI::App* cmd, int64_t& steps) {
  return cmd->add_option("--steps", steps, "Optimiser steps the run ends at")
      ->capture_default_str()
      ->check(number_within<int64_t>(1, std::numeric_limits<int64_t>::max()));
}

inline void add_run_flags(CLI::App* cmd, RunFlags& flags, bool stores_tensors = true) {
  cmd->add_option("--device", flags.device, "auto (CUDA when present), cpu, cuda or cuda:N")->capture_default_str();
  cmd->add_option("--dtype", flags.dtype, "Compute precision: fp32, or fp16/bf16 autocast on a GPU")
      ->check(CLI::IsMember({"fp32", "fp16", "bf16"}))
      ->capture_default_str();
  if (stores_tensors) {
    cmd->add_option("--stored-dtype", flags.stored_dtype, "Precision of stored latents or embeddings")
        ->check(CLI::IsMember({"fp16", "bf16", "fp32"}))
        ->capture_default_str();
  }
  add_threads_flag(cmd, flags.threads);
}

// --progress auto|bar|lines|quiet (pipeline::parse_progress_display reads it).
inline void add_progress_flag(CLI::App* cmd, std::string& progress) {
  cmd->add_option("--progress", progress, "Progress display")
      ->check(CLI::IsMember({"auto", "bar", "lines", "quiet"}))
      ->capture_default_str();
}

// --clip-vocab PATH for `needed_for` (e.g. "prompts"); empty means
// $TESSERA_CLIP_VOCAB (stages::clip_vocabulary_path reads both).
inline CLI::Option* add_clip_vocab_flag(CLI::App* cmd, std::string& path, const std::string& needed_for) {
  return cmd->add_option("--clip-vocab", path,
                         "CLIP BPE vocabulary (bpe_simple_vocab_16e6.txt.gz) for " + needed_for + "; default $" +
                             stages::kClipVocabularyVariable);
}

// --batch (or `name`): items per model call, 1..runtime::kMaxModelBatch.
template <typename Count>
CLI::Option* add_batch_flag(CLI::App* cmd, Count& batch, const std::string& help, const std::string& name = "--batch") {
  return cmd->add_option(name, batch, help)
      ->capture_default_str()
      ->check(number_within(Count{1}, Count(runtime::kMaxModelBatch)));
}

template <typename EncoderOptions>
EncoderOptions encoder_options(const std::string& config, const std::string& weights, const RunFlags& run) {
  EncoderOptions o;
  o.config = config;
  o.weights = weights;
  o.device = run.device;
  o.compute_dtype = run.dtype;
  o.stored_dtype = store::tensor_dtype_from_string(run.stored_dtype);
  o.threads = run.threads;
  return o;
}

}  // namespace tessera::cli
