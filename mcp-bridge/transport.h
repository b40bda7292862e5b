// How JSON-RPC messages reach one MCP server: a spawned process over stdio, or
// Streamable HTTP (with the legacy HTTP+SSE fallback).
#ifndef BATON_MCP_BRIDGE_TRANSPORT_H_
#define BATON_MCP_BRIDGE_TRANSPORT_H_

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace baton::mcp {

// One connection's life: Start, Send any number of times, Close once. A transport
// is not restarted; the owner makes a new one (ServerConnection does, with backoff).
// Implementations are thread-safe.
class Transport {
 public:
  struct Callbacks {
    // One message from the server (a JSON text, not yet parsed). Called from the
    // transport's own threads, one message at a time; it must not block.
    // `related_request` is the id of the client's request on whose response stream
    // the message came (Streamable HTTP: a server request or notification sent
    // while answering that request), when the transport knows it; stdio and the
    // server's own streams never know it.
    std::function<void(std::string_view message, std::optional<int64_t> related_request)> on_message;
    // The connection is gone (process exited, stream broken, session expired). Called
    // at most once, and not after Close was called.
    std::function<void(absl::Status why)> on_closed;
  };

  virtual ~Transport() = default;

  virtual absl::Status Start(Callbacks callbacks) = 0;
  // Sends one JSON-RPC message. kUnavailable when the connection is gone.
  virtual absl::Status Send(const std::string& message) = 0;
  // Tells the transport which protocol version initialize negotiated (HTTP sends it
  // as MCP-Protocol-Version on every later request).
  virtual void SetProtocolVersion(const std::string& version) {}
  // Ends the connection in the transport's orderly way and waits for it; no callback
  // runs after Close returns.
  virtual void Close() = 0;
  // "stdio", "streamable_http" or "sse".
  virtual std::string kind() const = 0;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TRANSPORT_H_
