// The `baton` command: parses a command line, talks to the orchestrator over gRPC
// and prints for people or, with --json, for scripts. main.cc only calls RunCli; tests
// call it against an in-process fake server.
#ifndef BATON_CLI_COMMANDS_H_
#define BATON_CLI_COMMANDS_H_

#include <iosfwd>
#include <string>
#include <vector>

namespace baton::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;  // an RPC failed, or a watched run did not succeed
inline constexpr int kExitUsage = 2;    // bad flags, arguments or input files

inline constexpr char kDefaultAddr[] = "127.0.0.1:7233";

// Runs `baton <args...>` (args excludes the program name) and returns the exit code.
// `up` blocks signals and, in the foreground, supervises until Ctrl-C.
int RunCli(std::vector<std::string> args, std::ostream& out, std::ostream& err);

}  // namespace baton::cli

#endif  // BATON_CLI_COMMANDS_H_
