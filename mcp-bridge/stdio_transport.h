// The stdio transport: the MCP server is a subprocess; messages are UTF-8 JSON, one
// per line, on its stdin and stdout; its stderr is logs.
#ifndef BATON_MCP_BRIDGE_STDIO_TRANSPORT_H_
#define BATON_MCP_BRIDGE_STDIO_TRANSPORT_H_

#include <sys/types.h>

#include <deque>
#include <map>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcp-bridge/line_framer.h"
#include "mcp-bridge/transport.h"

namespace baton::mcp {

struct StdioTransportOptions {
  std::string command;  // a path, or a name looked up in the child's PATH
  std::vector<std::string> args;
  // Added to the minimal environment (HOME, LOGNAME, PATH, SHELL, TERM, USER taken
  // from the bridge's own environment when set); a configured variable wins.
  std::map<std::string, std::string> env;
  std::string cwd;  // Default: the bridge's working directory
  std::string log_name = "mcp";  // prefixes the server's stderr lines in the log
  // Shutdown: close stdin, wait close_grace, SIGTERM, wait close_grace, SIGKILL.
  absl::Duration close_grace = absl::Seconds(2);  // Default: 2 s
  // A Send that cannot write for this long (the server does not read) fails.
  absl::Duration write_timeout = absl::Seconds(10);  // Default: 10 s
  // A longer line from the server is dropped (logged) instead of buffered.
  size_t max_line_bytes = 64 << 20;  // Default: 64 MiB
  int stderr_lines_kept = 20;        // Default: 20 (quoted when the server dies)
};

// Thread-safe. Owns the child process (in its own process group, killed with the
// bridge through PR_SET_PDEATHSIG) and one I/O thread that reads its stdout and
// stderr. SIGPIPE is ignored process-wide the first time a StdioTransport starts
// (a server that dies must not kill the bridge).
class StdioTransport final : public Transport {
 public:
  explicit StdioTransport(StdioTransportOptions options);
  ~StdioTransport() override;  // Close()
  StdioTransport(const StdioTransport&) = delete;
  StdioTransport& operator=(const StdioTransport&) = delete;

  absl::Status Start(Callbacks callbacks) override;
  absl::Status Send(const std::string& message) override;
  // REQUIRES: not called from inside a callback of this transport.
  void Close() override;
  std::string kind() const override { return "stdio"; }

  pid_t pid() const;
  // The last lines the server wrote to stderr, oldest first.
  std::vector<std::string> RecentStderr() const;

 private:
  void IoLoop();
  void HandleStdout(const char* data, size_t n);
  void HandleStderr(const char* data, size_t n, bool flush);
  // Reaps the child if it has exited, waiting at most `timeout`. Returns whether
  // it has exited.
  bool WaitExit(absl::Duration timeout);
  std::string DescribeExit();

  const StdioTransportOptions options_;
  Callbacks callbacks_;

  mutable absl::Mutex write_mu_;  // serialises writes to stdin
  int stdin_fd_ ABSL_GUARDED_BY(write_mu_) = -1;

  mutable absl::Mutex mu_;
  pid_t pid_ ABSL_GUARDED_BY(mu_) = -1;
  bool exited_ ABSL_GUARDED_BY(mu_) = false;
  int wait_status_ ABSL_GUARDED_BY(mu_) = 0;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  std::deque<std::string> stderr_tail_ ABSL_GUARDED_BY(mu_);

  // Owned by the I/O thread once it runs.
  int stdout_fd_ = -1;
  int stderr_fd_ = -1;
  int wake_fd_ = -1;  // eventfd: Close wakes the I/O thread
  LineFramer stdout_lines_{options_.max_line_bytes};
  std::string stderr_buffer_;

  std::thread io_thread_;  // joined in Close, before the fds close
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_STDIO_TRANSPORT_H_
