#include "commands.h"

namespace tessera::cli {

void add_commands(CLI::App& app, int& exit_code) {
  add_probe_command(app, exit_code);
  add_ingest_command(app, exit_code);
  add_info_command(app, exit_code);
  add_report_command(app, exit_code);
  add_encode_command(app, exit_code);
  add_encode_text_command(app, exit_code);
  add_gc_command(app, exit_code);
  add_repair_command(app, exit_code);
  add_merge_command(app, exit_code);
  add_train_command(app, exit_code);
  add_train_vae_command(app, exit_code);
  add_generate_command(app, exit_code);
  add_export_command(app, exit_code);
  add_evaluate_command(app, exit_code);
  add_model_command(app, exit_code);
  add_tokenize_command(app, exit_code);
  add_learn_vocab_command(app, exit_code);
}

}  // namespace tessera::cli
