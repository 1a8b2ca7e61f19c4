#include <unistd.h>

#include <CLI/CLI.hpp>
#include <cerrno>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iostream>
#include <string>
#include <vector>

#include "base/error.h"
#include "model_commands.h"
#include "model_host.h"

namespace tessera::cli {
namespace {

std::vector<char*>& command_line() {
  static std::vector<char*> arguments;
  return arguments;
}

// Replaces this process with tessera-models and the same command line.
[[noreturn]] void hand_over() {
  const auto& arguments = command_line();
  const std::string command = arguments.size() > 2 ? arguments[1] : "this command";
  std::error_code error;
  const auto self = std::filesystem::read_symlink("/proc/self/exe", error);
  if (error) throw Error("cannot find this executable (/proc/self/exe) to run " + command + ": " + error.message());
  const auto models = self.parent_path() / kModelsBinary;
  std::cout.flush();
  std::fflush(nullptr);
  ::execv(models.c_str(), arguments.data());
  throw Error(command + " runs a model, which " + self.filename().string() + " leaves to " + models.string() +
              ", beside it: cannot run that: " + std::strerror(errno));
}

}  // namespace

void keep_command_line(int argc, char** argv) {
  command_line().assign(argv, argv + argc);
  command_line().push_back(nullptr);
}

void add_model_commands(CLI::App& app, int&) {
  for (const auto& command : kModelCommands) {
    auto* cmd = add_subcommand(app, command);
    // Everything after the name, --help included, is tessera-models' to parse.
    cmd->prefix_command();
    cmd->set_help_flag();
    cmd->callback(hand_over);
  }
}

runtime::LatentEncoder::Opener latent_encoder_opener() { hand_over(); }

}  // namespace tessera::cli
