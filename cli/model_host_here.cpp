#include "commands.h"
#include "model_host.h"

namespace tessera::cli {

// Nothing is handed over from here.
void keep_command_line(int, char**) {}

void add_model_commands(CLI::App& app, int& exit_code) {
  add_encode_command(app, exit_code);
  add_encode_text_command(app, exit_code);
  add_train_command(app, exit_code);
  add_train_vae_command(app, exit_code);
  add_generate_command(app, exit_code);
  add_evaluate_command(app, exit_code);
  add_model_command(app, exit_code);
}

runtime::LatentEncoder::Opener latent_encoder_opener() { return &runtime::LatentEncoder::open; }

}  // namespace tessera::cli
