#pragma once

#include "model_host.h"

namespace CLI {
class App;
}

namespace tessera::cli {

// Exit codes, documented in README.md.
inline constexpr int kExitOk = 0;
inline constexpr int kExitError = 1;         // the run could not start or went wrong as a whole
inline constexpr int kExitUsage = 2;         // bad flags
inline constexpr int kExitSlidesFailed = 3;  // the run finished, but some slides failed
inline constexpr int kExitInterrupted = 130;

// Each registers a subcommand; its callback sets `exit_code`.
void add_probe_command(CLI::App& app, int& exit_code);
void add_ingest_command(CLI::App& app, int& exit_code);
void add_info_command(CLI::App& app, int& exit_code);
void add_report_command(CLI::App& app, int& exit_code);
void add_export_command(CLI::App& app, int& exit_code);
void add_evaluate_command(CLI::App& app, int& exit_code);
void add_encode_command(CLI::App& app, int& exit_code);
void add_encode_text_command(CLI::App& app, int& exit_code);
void add_gc_command(CLI::App& app, int& exit_code);
void add_repair_command(CLI::App& app, int& exit_code);
void add_merge_command(CLI::App& app, int& exit_code);
void add_train_command(CLI::App& app, int& exit_code);
void add_train_vae_command(CLI::App& app, int& exit_code);
void add_generate_command(CLI::App& app, int& exit_code);
void add_model_command(CLI::App& app, int& exit_code);
void add_tokenize_command(CLI::App& app, int& exit_code);
void add_learn_vocab_command(CLI::App& app, int& exit_code);

// Registers every command, in the order `tessera --help` lists them; those
// that run a model come from model_host.h. Inline, so that each executable's
// own object asks for the one model_host.cpp it links.
inline void add_commands(CLI::App& app, int& exit_code) {
  add_probe_command(app, exit_code);
  add_ingest_command(app, exit_code);
  add_info_command(app, exit_code);
  add_report_command(app, exit_code);
  add_gc_command(app, exit_code);
  add_repair_command(app, exit_code);
  add_merge_command(app, exit_code);
  add_export_command(app, exit_code);
  add_model_commands(app, exit_code);
  add_tokenize_command(app, exit_code);
  add_learn_vocab_command(app, exit_code);
}

}  // namespace tessera::cli
