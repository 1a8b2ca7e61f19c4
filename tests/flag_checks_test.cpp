// Every number flag of every command, found by its type: each refuses what no
// range holds (NaN, infinities, a value past double's range, a negative or
// fractional whole number) as a usage error naming the flag, before any
// command runs (cli/flag_checks.h).
#include <gtest/gtest.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <string>
#include <vector>

#include "commands.h"

namespace tessera {
namespace {

// The command path ("model", "forward") and option of each number flag.
struct NumberFlag {
  std::vector<std::string> command;
  std::string name;
  std::string type;  // CLI11's: FLOAT, INT or UINT
};

void collect(CLI::App* app, std::vector<std::string> path, std::vector<NumberFlag>& out) {
  if (!app->get_name().empty() && app->get_parent() != nullptr) path.push_back(app->get_name());
  for (const CLI::Option* option : app->get_options()) {
    const std::string type = option->get_type_name().substr(0, option->get_type_name().find(':'));
    if (type == "FLOAT" || type == "INT" || type == "UINT") out.push_back({path, option->get_name(), type});
  }
  for (CLI::App* sub : app->get_subcommands([](CLI::App*) { return true; })) collect(sub, path, out);
}

std::vector<NumberFlag> number_flags(CLI::App& app) {
  std::vector<NumberFlag> flags;
  collect(&app, {}, flags);
  return flags;
}

TEST(FlagChecks, EveryNumberFlagRefusesWhatNoRangeHolds) {
  int exit_code = 0;
  CLI::App listing;
  cli::add_commands(listing, exit_code);
  const auto flags = number_flags(listing);
  ASSERT_GE(flags.size(), 40u);  // the commands' number flags were found

  for (const auto& flag : flags) {
    std::vector<std::string> values = {"nan", "-nan", "inf", "-inf", "1e400", "-1"};
    if (flag.type != "FLOAT") values.insert(values.end(), {"1.5", "1e3"});
    for (const auto& value : values) {
      std::string where;
      for (const auto& part : flag.command) where += part + " ";
      where += flag.name + " " + value;
      SCOPED_TRACE(where);
      // A fresh App each time: CLI11 keeps the results of a parse.
      CLI::App app;
      cli::add_commands(app, exit_code);
      std::vector<std::string> args = {flag.command.begin(), flag.command.end()};
      args.insert(args.end(), {flag.name, value});
      std::reverse(args.begin(), args.end());  // CLI11 takes them last first
      try {
        app.parse(args);
        ADD_FAILURE() << "accepted";
      } catch (const CLI::RequiredError& e) {
        ADD_FAILURE() << "accepted, then: " << e.what();
      } catch (const CLI::ParseError& e) {
        EXPECT_NE(std::string(e.what()).find(flag.name), std::string::npos) << e.what();
        EXPECT_NE(e.get_exit_code(), 0);  // main() exits kExitUsage
      }
    }
  }
}

}  // namespace
}  // namespace tessera
