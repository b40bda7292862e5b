// One configured MCP server kept connected: connects (spawning stdio servers),
// lists its tools, lists them again on notifications/tools/list_changed, and when
// the connection dies reconnects with exponential backoff. Calls that arrive while
// it is (re)connecting wait for it, up to the server's connect_wait.
#ifndef BATON_MCP_BRIDGE_SERVER_CONNECTION_H_
#define BATON_MCP_BRIDGE_SERVER_CONNECTION_H_

#include <deque>
#include <functional>
#include <memory>
#include <thread>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/synchronization/notification.h"
#include "mcp-bridge/mcp_client.h"
#include "mcp-bridge/timer_queue.h"
#include "mcp-bridge/tool_server.h"
#include "mcp-bridge/transport.h"

namespace baton::mcp {

// Makes the transport of one connection attempt.
using TransportFactory = std::function<absl::StatusOr<std::unique_ptr<Transport>>(const ServerConfig&)>;

// The stdio and HTTP transports, as the config says.
TransportFactory DefaultTransportFactory();

// Thread-safe. One supervisor thread does the blocking work (connect, list,
// close); calls go straight to the current connection.
class ServerConnection final : public ToolServer {
 public:
  // `timers` must outlive this.
  ServerConnection(ServerConfig config, TransportFactory factory, TimerQueue& timers,
                   McpClientOptions client_options = {});
  ~ServerConnection() override;  // Stop()
  ServerConnection(const ServerConnection&) = delete;
  ServerConnection& operator=(const ServerConnection&) = delete;

  const ServerConfig& config() const override { return config_; }
  void SetToolsChangedCallback(std::function<void()> callback) override;
  void Start() override;
  bool WaitUntilStarted(absl::Duration timeout) override;
  std::vector<McpTool> tools() const override;
  ServerState state() const override;
  int64_t CallTool(const std::string& tool, nlohmann::json arguments, const CallOptions& options,
                   std::function<void(CallResult)> done) override;
  void CancelCall(int64_t handle, const std::string& reason) override;
  void Stop() override;

 private:
  struct WaitingCall {
    std::string tool;
    nlohmann::json arguments;
    CallOptions options;
    std::function<void(CallResult)> done;
    TimerQueue::TimerId timer = 0;
  };
  struct RunningCall {
    std::weak_ptr<McpClient> client;
    McpClient::CallId id = 0;  // 0 until the client took the call
    bool cancel_requested = false;
    std::string cancel_reason;
  };
  // Timer callbacks reach the connection through this, so one that fires while
  // it is destroyed finds it gone.
  struct Lifeline {
    absl::Mutex mu;
    ServerConnection* self ABSL_GUARDED_BY(mu) = nullptr;
  };

  void Supervise();
  // Connects once; on success publishes the client and its tools.
  absl::Status ConnectOnce(uint64_t generation);
  absl::Status RefreshTools(McpClient& client);
  // Sends a call to `client` (REQUIRES: not holding mu_).
  void Dispatch(int64_t handle, const std::shared_ptr<McpClient>& client, WaitingCall call);
  // Puts a call the connection `failed` could not send back to wait for the next
  // connection. Returns false when it must fail instead (stopping, cancelled).
  bool Requeue(int64_t handle, WaitingCall& call, const McpClient* failed);
  // Dispatches or fails the calls waiting for a connection.
  void FlushWaiting(const std::shared_ptr<McpClient>& client);
  void OnWaitTimeout(int64_t handle);
  void NotifyToolsChanged();

  const ServerConfig config_;
  const TransportFactory factory_;
  const McpClientOptions client_options_;
  TimerQueue& timers_;
  std::function<void()> on_tools_changed_;  // set before Start
  absl::Notification started_;              // first attempt over

  mutable absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool disconnected_ ABSL_GUARDED_BY(mu_) = false;  // the current client's connection died
  bool relist_ ABSL_GUARDED_BY(mu_) = false;        // list_changed arrived
  uint64_t generation_ ABSL_GUARDED_BY(mu_) = 0;    // of the current client
  std::shared_ptr<McpClient> client_ ABSL_GUARDED_BY(mu_);  // null while disconnected
  std::vector<McpTool> tools_ ABSL_GUARDED_BY(mu_);
  ServerState state_ ABSL_GUARDED_BY(mu_);
  int64_t next_handle_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<int64_t, WaitingCall> waiting_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<int64_t, RunningCall> running_ ABSL_GUARDED_BY(mu_);
  std::shared_ptr<Lifeline> lifeline_ = std::make_shared<Lifeline>();

  std::thread supervisor_;  // last: joined in Stop before the state above goes
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_SERVER_CONNECTION_H_
