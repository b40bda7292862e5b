// JSON-RPC 2.0 as MCP uses it: one peer of a connection, matching responses to
// requests by id (in any order), answering requests from the other side and handing
// notifications on. Pure logic: bytes go out through a function and come in through
// OnMessage, so it is tested without processes or sockets.
#ifndef BATON_MCP_BRIDGE_JSON_RPC_H_
#define BATON_MCP_BRIDGE_JSON_RPC_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"

namespace baton::mcp {

// Standard and MCP error codes.
inline constexpr int kParseError = -32700;
inline constexpr int kInvalidRequest = -32600;
inline constexpr int kMethodNotFound = -32601;
inline constexpr int kInvalidParams = -32602;
inline constexpr int kInternalError = -32603;
// Baton's own: a transport answers a request it could not deliver with this code,
// so the client knows the server never saw it (and the call may be sent again).
inline constexpr int kNotDelivered = -32099;

struct JsonRpcError {
  int code = 0;
  std::string message;
  nlohmann::json data;  // null when absent
};

// What came back for a request: exactly one of a result or an error.
struct JsonRpcResponse {
  nlohmann::json result;
  std::optional<JsonRpcError> error;
};

// Called exactly once per request: with the response, or with a non-OK status when
// no response will come (kUnavailable: the connection closed; or the status given to
// Abandon).
using ResponseCallback = std::function<void(absl::StatusOr<JsonRpcResponse>)>;

// A request from the other side.
struct IncomingRequest {
  nlohmann::json id;  // a string or an integer
  std::string method;
  nlohmann::json params;  // null when absent
  // The id of our request in whose course it was sent, when the transport knows it
  // (see Transport::Callbacks::on_message).
  std::optional<int64_t> related_request;
};

// The answer to an IncomingRequest, sent when called. Call it once, from any thread,
// while the connection exists; after Close it sends nothing.
using Responder = std::function<void(JsonRpcResponse response)>;

JsonRpcResponse ResultResponse(nlohmann::json result);
JsonRpcResponse ErrorResponse(int code, std::string message);

// Thread-safe. Callbacks run on the thread that calls OnMessage / Close / Abandon,
// never under the internal lock, so they may call back into the connection.
class JsonRpcConnection {
 public:
  // Writes one serialised message (no trailing newline) to the other side.
  using SendFn = std::function<absl::Status(const std::string& message)>;
  struct Handlers {
    // A notification from the other side.
    std::function<void(const std::string& method, const nlohmann::json& params)> on_notification;
    // A request from the other side, answered through `respond` at once or later
    // (so it may wait for a person). Unset: every request is refused (-32601).
    std::function<void(IncomingRequest request, Responder respond)> on_request;
  };

  JsonRpcConnection(SendFn send, Handlers handlers);
  JsonRpcConnection(const JsonRpcConnection&) = delete;
  JsonRpcConnection& operator=(const JsonRpcConnection&) = delete;

  // Sends a request and returns its id; then `done` is called exactly once. When
  // the request could not be sent (connection closed, write failed) this returns
  // the error and `done` is never called: the other side never saw the request.
  absl::StatusOr<int64_t> SendRequest(const std::string& method, nlohmann::json params,
                                      ResponseCallback done);
  absl::Status SendNotification(const std::string& method, nlohmann::json params);

  // Feeds one message from the other side. Anything that is not a JSON-RPC 2.0
  // message is logged and ignored (returns false); a request whose id is unknown
  // or absent is answered with an error as the spec asks. `related_request`: as in
  // IncomingRequest.
  bool OnMessage(std::string_view message, std::optional<int64_t> related_request = std::nullopt);

  // Stops waiting for `id`: `done` runs with `status`; a late response is ignored.
  // Returns false when the request was no longer pending.
  bool Abandon(int64_t id, absl::Status status);

  // Fails every pending request with `status`; later requests fail at once.
  void Close(absl::Status status);

  size_t pending() const;
  // Messages that were not JSON-RPC (garbage lines), for tests and diagnostics.
  int64_t ignored_messages() const;

 private:
  // Sends the answer to the request `id`, unless the connection is closed.
  void Reply(const nlohmann::json& id, JsonRpcResponse response);

  const SendFn send_;
  const Handlers handlers_;
  mutable absl::Mutex mu_;
  int64_t next_id_ ABSL_GUARDED_BY(mu_) = 1;
  absl::flat_hash_map<int64_t, ResponseCallback> pending_ ABSL_GUARDED_BY(mu_);
  std::optional<absl::Status> closed_ ABSL_GUARDED_BY(mu_);
  int64_t ignored_ ABSL_GUARDED_BY(mu_) = 0;
};

// "code message" of an error, for logs and readable tool errors.
std::string DescribeError(const JsonRpcError& error);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_JSON_RPC_H_
