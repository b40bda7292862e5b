// `baton up` and `baton down`: the local stack on one data directory.
#ifndef BATON_CLI_UP_H_
#define BATON_CLI_UP_H_

#include <ostream>
#include <string>

#include "absl/status/status.h"
#include "absl/time/time.h"
#include "cli/stack.h"
#include "common/tls.h"

namespace baton::cli {

// Starts the stack and, unless options.detach, supervises it until SIGINT/SIGTERM/
// SIGHUP, then stops it. Returns the process exit code. REQUIRES: called from the
// main thread before any other thread exists (it blocks the signals it waits for, so
// every later thread inherits the mask).
int RunUp(const UpOptions& options, std::ostream& out, std::ostream& err);

// Prints the stack recorded in DIR/stack.json: its address, each process and whether
// it runs, the web console's URL and the admin key's file. 0 when every process runs,
// 1 otherwise (or when there is no stack).
int RunStatus(const std::string& data_dir, std::ostream& out, std::ostream& err);

// Stops the stack recorded in DIR/stack.json. Returns the exit code.
int RunDown(const std::string& data_dir, absl::Duration grace, std::ostream& out, std::ostream& err);

// OK when the gRPC server at `addr` reports SERVING on grpc.health.v1.Health/Check
// (or, if it has no health service, answers RunService.ListRuns), connecting with `tls`.
absl::Status CheckOrchestrator(const std::string& addr, absl::Duration timeout, const ClientTlsOptions& tls = {});

// How the CLI reaches the stack recorded in DATA_DIR/stack.json when that stack runs
// with TLS and its orchestrator or bridge listens on `addr`: its CA and the CLI
// certificate. Empty options
// otherwise (no stack, another address, or no TLS).
ClientTlsOptions StackClientTls(const std::string& data_dir, const std::string& addr);

// The admin key file of the stack recorded in DATA_DIR/stack.json when its
// orchestrator listens on `addr`; "" otherwise.
std::string StackApiKeyFile(const std::string& data_dir, const std::string& addr);

}  // namespace baton::cli

#endif  // BATON_CLI_UP_H_
