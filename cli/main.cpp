#include <spdlog/spdlog.h>

#include <CLI/CLI.hpp>
#include <iostream>

#include "base/error.h"
#include "commands.h"
#include "model_host.h"

int main(int argc, char** argv) {
  tessera::cli::keep_command_line(argc, argv);
  spdlog::set_pattern("%Y-%m-%dT%H:%M:%S %l %v");
  spdlog::set_default_logger(spdlog::default_logger()->clone("tessera"));
  CLI::App app("tessera: whole-slide images and reports into a store of tiles, latents and prompts");
  app.require_subcommand(1);
  int exit_code = tessera::cli::kExitOk;
  tessera::cli::add_commands(app, exit_code);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    const int code = app.exit(e);
    return code == 0 ? 0 : tessera::cli::kExitUsage;
  } catch (const tessera::Error& e) {
    std::cerr << "tessera: error: " << e.what() << '\n';
    return tessera::cli::kExitError;
  } catch (const std::exception& e) {
    // Anything else (a device or dtype this machine cannot run, LibTorch's
    // own errors) is reported the same way.
    std::cerr << "tessera: error: " << e.what() << '\n';
    return tessera::cli::kExitError;
  }
  return exit_code;
}
