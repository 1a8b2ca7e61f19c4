#pragma once

#include <CLI/CLI.hpp>

namespace tessera::cli {

// A command that runs a model, and so LibTorch. build/tessera lists it and
// hands it to build/tessera-models (model_host.h); its name and summary are
// declared here once, for both.
struct ModelCommand {
  const char* name;
  const char* summary;
};

inline constexpr ModelCommand kEncodeCommand{
    "encode", "Encode stored tiles to VAE latents: exactly those without a latent of this model (resumable)"};
inline constexpr ModelCommand kEncodeTextCommand{
    "encode-text", "Embed each distinct stored prompt once with the frozen text encoder, plus the empty prompt"};
inline constexpr ModelCommand kTrainCommand{
    "train", "Train the LDM's denoiser on the store's latents and prompt embeddings (resumable; torchrun-aware)"};
inline constexpr ModelCommand kTrainVaeCommand{
    "train-vae", "Fine-tune a VQ or KL autoencoder on the store's tile pixels (resumable; then re-encode with it)"};
inline constexpr ModelCommand kGenerateCommand{
    "generate", "Generate synthetic tiles with a trained latent diffusion model, with a manifest (resumable)"};
inline constexpr ModelCommand kEvaluateCommand{
    "evaluate",
    "Measure a synthetic set against real tiles: FID, KID, precision/recall, density/coverage, overall, per "
    "prompt bin and per model, and a memorisation audit against the store's training tiles"};
inline constexpr ModelCommand kModelCommand{"model", "Inspect, initialise and run the LDM models (upstream layouts)"};

// In `tessera --help`'s order.
inline constexpr ModelCommand kModelCommands[] = {kEncodeCommand,   kEncodeTextCommand, kTrainCommand, kTrainVaeCommand,
                                                  kGenerateCommand, kEvaluateCommand,   kModelCommand};

inline CLI::App* add_subcommand(CLI::App& app, const ModelCommand& command) {
  return app.add_subcommand(command.name, command.summary);
}

}  // namespace tessera::cli
