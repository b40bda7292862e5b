// An MCP client for one connection to one server (protocol 2025-11-25, negotiating
// down to 2024-11-05): the initialize handshake, ping both ways, tools/list with
// pagination, tools/call with progress, timeouts and cancellation, and the server's
// requests for input during a call (elicitation, answered by the call's policy).
#ifndef BATON_MCP_BRIDGE_MCP_CLIENT_H_
#define BATON_MCP_BRIDGE_MCP_CLIENT_H_

#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcp-bridge/elicitation.h"
#include "mcp-bridge/input_requester.h"
#include "mcp-bridge/json_rpc.h"
#include "mcp-bridge/timer_queue.h"
#include "mcp-bridge/transport.h"

namespace baton::mcp {

// The protocol version the client asks for, and every version it accepts back.
inline constexpr char kLatestProtocolVersion[] = "2025-11-25";
bool IsSupportedProtocolVersion(const std::string& version);

struct McpClientOptions {
  std::string client_name = "baton-mcp-bridge";  // clientInfo.name
  std::string client_version = "0.1.0";          // clientInfo.version
  std::string protocol_version = kLatestProtocolVersion;  // asked for in initialize
  // initialize, tools/list pages, ping.
  absl::Duration request_timeout = absl::Seconds(30);  // Default: 30 s
  std::string log_name = "mcp";  // the server's name in logs
};

struct ServerInfo {
  std::string protocol_version;  // negotiated
  nlohmann::json capabilities = nlohmann::json::object();
  std::string name;
  std::string version;
  std::string instructions;
};

struct CallOptions {
  // No answer and no progress for this long: the call times out. Progress
  // notifications restart it.
  absl::Duration timeout = absl::Seconds(60);  // Default: 60 s
  // The call times out after this long whatever progress arrives. It also bounds
  // the wait for a person's answer to an elicitation, during which `timeout` is
  // suspended (the server waits for us, so it sends no progress).
  absl::Duration max_duration = absl::Minutes(10);  // Default: 10 min
  // Extra _meta fields sent with the call (the bridge's idempotency key).
  nlohmann::json meta = nlohmann::json::object();
  // How the server's elicitation/create requests during the call are answered.
  ElicitationOptions elicitation;
};

struct CallResult {
  enum class Kind {
    kResult,       // `result` holds the server's CallToolResult (isError may be set)
    kRpcError,     // the server answered with a JSON-RPC error
    kTimeout,      // no answer in time; notifications/cancelled was sent
    kCancelled,    // CancelCall; notifications/cancelled was sent
    kUnavailable,  // the connection failed before an answer came
  };
  Kind kind = Kind::kUnavailable;
  nlohmann::json result;
  JsonRpcError error;
  std::string message;     // why, for the kinds without a result
  bool sent = false;       // the request was written to the server
  int progress_count = 0;  // progress notifications received
  int elicitations = 0;    // elicitation/create requests the server sent during the call
};

// Thread-safe. Owns its transport. Callbacks (`done`, on_tools_changed, on_closed)
// run on the transport's or the timer queue's thread and must not block; they may
// call CallTool and CancelCall but not Close. The InputRequesters of its calls must
// outlive it.
//
// Elicitation: the client declares form-mode elicitation. A request arriving during
// a tools/call is answered by that call's ElicitationOptions. The call is known
// from the transport (Streamable HTTP: the request came on the call's response
// stream) or, when the transport cannot tell (stdio, the server's GET stream), it is
// the only call in flight; with several calls in flight it is declined unless every
// one of them would accept defaults. URL mode is refused with -32602.
class McpClient {
 public:
  struct Callbacks {
    std::function<void()> on_tools_changed;         // notifications/tools/list_changed
    std::function<void(absl::Status)> on_closed;    // the connection went away
  };
  using CallId = int64_t;

  // `timers` must outlive the client.
  McpClient(std::unique_ptr<Transport> transport, TimerQueue& timers, McpClientOptions options,
            Callbacks callbacks = {});
  ~McpClient();  // Close()
  McpClient(const McpClient&) = delete;
  McpClient& operator=(const McpClient&) = delete;

  // Starts the transport and runs initialize / notifications/initialized. Blocks.
  // kFailedPrecondition when the server speaks no version this client supports.
  absl::StatusOr<ServerInfo> Connect();
  // Every tool of the server, following nextCursor. Blocks.
  absl::StatusOr<std::vector<nlohmann::json>> ListTools();
  absl::Status Ping();

  // Calls a tool; `done` runs exactly once (possibly before CallTool returns).
  CallId CallTool(const std::string& name, nlohmann::json arguments, const CallOptions& options,
                  std::function<void(CallResult)> done);
  // Blocking form of CallTool.
  CallResult CallToolAndWait(const std::string& name, nlohmann::json arguments, const CallOptions& options);
  // Stops waiting for the call and tells the server (notifications/cancelled). No-op
  // when the call already finished.
  void CancelCall(CallId id, const std::string& reason);

  // Closes the transport in its orderly way; calls in flight fail as kUnavailable.
  void Close();

  const ServerInfo& server_info() const { return server_info_; }  // valid after Connect
  std::string transport_kind() const { return transport_->kind(); }
  size_t calls_in_flight() const;
  int64_t ignored_messages() const { return rpc_.ignored_messages(); }

 private:
  struct Call {
    int64_t rpc_id = -1;  // -1 until SendRequest returned
    std::function<void(CallResult)> done;
    absl::Duration timeout;
    absl::Time hard_deadline;
    TimerQueue::TimerId timer = 0;
    int progress_count = 0;
    ElicitationOptions elicitation;
    int elicitations = 0;  // requests received, numbering the asks
    int asking = 0;        // asks waiting for a person: only hard_deadline applies
  };
  // An elicitation waiting for a person's answer.
  struct Asking {
    CallId call = 0;
    nlohmann::json server_request_id;  // for the server's notifications/cancelled
    InputRequester* requester = nullptr;
    std::optional<InputRequester::AskId> ask;  // unset until Ask returned
    nlohmann::json requested_schema;
    Responder respond;
  };

  // A request that waits for its answer (with request_timeout); on timeout the
  // server is told the request is cancelled (except for initialize).
  absl::StatusOr<JsonRpcResponse> Request(const std::string& method, nlohmann::json params);
  void OnNotification(const std::string& method, const nlohmann::json& params);
  void OnRequest(IncomingRequest request, Responder respond);
  void OnElicitation(IncomingRequest request, Responder respond);
  // A person's answer (or the requester's failure) for asking_[key].
  void OnInputDecided(int64_t key, absl::StatusOr<InputDecision> decision);
  // The server withdrew a request of its own (notifications/cancelled).
  void OnServerCancelled(const nlohmann::json& params);
  // The call an elicitation belongs to; null when it cannot be told.
  Call* FindCallFor(std::optional<int64_t> related_request, CallId* id) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The answer to an elicitation that belongs to no known call.
  nlohmann::json AnswerWithoutCall(const nlohmann::json& requested_schema, std::string* why)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  void OnProgress(const nlohmann::json& params);
  void OnTimer(CallId id);
  // Removes the call and runs its `done` with `result`, once.
  void Finish(CallId id, CallResult result);
  // Arms (or re-arms) the call's timer at the earlier of now + timeout and the hard
  // deadline; at the hard deadline while a person is asked.
  void ArmTimer(CallId id, Call& call) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  // Timer callbacks reach the client through this, so one that fires while the
  // client is destroyed finds it gone instead of dangling.
  struct Lifeline {
    absl::Mutex mu;
    McpClient* client ABSL_GUARDED_BY(mu);
  };

  const McpClientOptions options_;
  const Callbacks callbacks_;
  std::shared_ptr<Lifeline> lifeline_;
  TimerQueue& timers_;
  ServerInfo server_info_;
  std::unique_ptr<Transport> transport_;
  JsonRpcConnection rpc_;  // after transport_: its send function writes there

  mutable absl::Mutex mu_;
  CallId next_call_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<CallId, Call> calls_ ABSL_GUARDED_BY(mu_);
  int64_t next_asking_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<int64_t, Asking> asking_ ABSL_GUARDED_BY(mu_);
  bool closed_ ABSL_GUARDED_BY(mu_) = false;
  absl::Status lost_reason_ ABSL_GUARDED_BY(mu_);  // why the transport went away, if it did
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_MCP_CLIENT_H_
