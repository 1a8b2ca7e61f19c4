#pragma once

// Where the work of a model runs. LibTorch takes about a second to load, and
// most commands need no model (probe, ingest without a VAE, info, merge,
// export, ...). So build/tessera does not link it: a command that runs a
// model hands the whole command line over to build/tessera-models, beside it,
// which runs it in its place (execv: same process id, arguments, environment
// and exit code). tessera-models and the test build tessera-crashable run
// models themselves. Each executable links one of the two definitions:
// model_host_here.cpp or model_host_handover.cpp.

#include "runtime/latent_encoder.h"

namespace CLI {
class App;
}

namespace tessera::cli {

// The executable that runs models, beside build/tessera.
inline constexpr const char* kModelsBinary = "tessera-models";

// Keeps the command line for a hand-over; main() calls it first.
void keep_command_line(int argc, char** argv);

// Registers the commands of model_commands.h: the commands themselves, or
// ones that hand the command line over when run.
void add_model_commands(CLI::App& app, int& exit_code);

// What opens ingest's VAE. Where models run elsewhere, asking hands the
// command line over, so it is asked before anything is written.
runtime::LatentEncoder::Opener latent_encoder_opener();

}  // namespace tessera::cli
