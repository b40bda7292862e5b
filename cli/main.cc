// The `baton` command-line client. Everything but argv handling lives in baton_cli.
#include <iostream>
#include <string>
#include <vector>

#include "cli/commands.h"

int main(int argc, char** argv) {
  std::vector<std::string> args(argv + 1, argv + argc);
  return baton::cli::RunCli(std::move(args), std::cout, std::cerr);
}
