// Tools from the MCP bridge (baton.v1.ToolService over gRPC), and the executor that
// offers built-in and bridge tools together.
#ifndef BATON_WORKERS_BRIDGE_TOOL_EXECUTOR_H_
#define BATON_WORKERS_BRIDGE_TOOL_EXECUTOR_H_

#include <map>
#include <memory>
#include <string>
#include <vector>

#include <grpcpp/channel.h>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "baton/v1/tool_service.grpc.pb.h"
#include "common/tls.h"
#include "workers/tool_executor.h"

namespace baton::worker {

struct BridgeToolExecutorOptions {
  std::string address;  // "127.0.0.1:7234"
  ClientTlsOptions tls;  // TLS to the bridge (--ca, --cert, --key). Default: none (plaintext)
  absl::Duration list_timeout = absl::Seconds(10);  // Default: 10 s, the ListTools deadline
  // A call made while the bridge is unreachable (restarting) waits this long for it
  // before failing as kUnavailable: it has not reached any server, so waiting is
  // safe and saves the run an attempt.
  absl::Duration connect_wait = absl::Seconds(30);  // Default: 30 s
  // Hard limit on one call however much progress the tool reports; the RPC deadline
  // is this plus call_grace.
  absl::Duration max_call_duration = absl::Minutes(10);  // Default: 10 min
  absl::Duration call_grace = absl::Seconds(10);         // Default: 10 s
  // How often a call in flight checks the run's is_cancelled.
  absl::Duration cancel_poll = absl::Milliseconds(50);  // Default: 50 ms
};

// Thread-safe; one channel and stub for every call.
//
// CallTool's outcomes: a result (is_error when the tool failed or the bridge
// refused the call: not_allowed, invalid_arguments, tool_timeout, ...);
// kUnavailable when the bridge cannot be reached, or when the MCP server went away
// after the call reached it (the outcome is unknown: the worker retries the attempt
// and the journal's resume rule decides whether the call runs again); kCancelled
// when the run was cancelled meanwhile (the bridge tells the server).
class BridgeToolExecutor final : public ToolExecutor {
 public:
  explicit BridgeToolExecutor(BridgeToolExecutorOptions options);
  // For tests: an existing channel.
  BridgeToolExecutor(BridgeToolExecutorOptions options, std::shared_ptr<grpc::Channel> channel);

  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override;
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                      const ToolCallContext& context) override;

 private:
  // Waits until the channel is connected, `connect_wait` at most, checking
  // `is_cancelled` meanwhile. Returns false when it is not.
  bool WaitForBridge(const std::function<bool()>& is_cancelled);

  const BridgeToolExecutorOptions options_;
  std::shared_ptr<grpc::Channel> channel_;
  std::unique_ptr<v1::ToolService::Stub> stub_;
};

// Offers the tools of several executors as one: the first executor that lists a
// name serves it. A part that cannot list its tools is represented by the last list
// it gave (its calls then fail as it fails); one that never listed makes ListTools
// fail with its error. Thread-safe; the parts must outlive it.
class CompositeToolExecutor final : public ToolExecutor {
 public:
  explicit CompositeToolExecutor(std::vector<ToolExecutor*> parts);

  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override;
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const nlohmann::json& input,
                                      const ToolCallContext& context) override;

 private:
  const std::vector<ToolExecutor*> parts_;
  absl::Mutex mu_;
  std::vector<std::optional<std::vector<ToolDefinition>>> last_ ABSL_GUARDED_BY(mu_);  // per part
  std::map<std::string, ToolExecutor*> route_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_BRIDGE_TOOL_EXECUTOR_H_
