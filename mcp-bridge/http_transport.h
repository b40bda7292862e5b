// MCP over HTTP, with libcurl: Streamable HTTP (protocol 2025-03-26 and later),
// falling back to the legacy HTTP+SSE transport (2024-11-05) when the server is one.
//
// Streamable HTTP: each message is a POST to the endpoint; the answer to a request
// is one JSON object or an SSE stream carrying it (possibly after progress
// notifications and server requests). Mcp-Session-Id from the initialize answer and
// MCP-Protocol-Version go on every later request. After initialization a GET opens
// the server's own stream, and the messages after notifications/initialized wait
// until it is open (or refused), so nothing the server sends there is lost. A stream that ends before its answer (or the GET stream)
// is reopened with GET and Last-Event-ID after the server's `retry:` delay. A 404
// on a POST of a live session means the session expired: the transport reports
// itself closed and its owner initializes a new one. Close sends DELETE.
//
// Legacy HTTP+SSE: GET the URL for an SSE stream whose `endpoint` event names the
// URL to POST messages to; every answer comes on the stream.
#ifndef BATON_MCP_BRIDGE_HTTP_TRANSPORT_H_
#define BATON_MCP_BRIDGE_HTTP_TRANSPORT_H_

#include <deque>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "mcp-bridge/transport.h"

namespace baton::mcp {

struct HttpTransportOptions {
  std::string url;  // the MCP endpoint (Streamable HTTP) or the SSE URL (legacy)
  std::map<std::string, std::string> headers;  // sent with every request
  std::string log_name = "mcp";
  bool legacy_only = false;     // Default: false (Streamable HTTP, legacy as fallback)
  bool open_get_stream = true;  // Default: true (listen for server-initiated messages)
  absl::Duration connect_timeout = absl::Seconds(10);  // Default: 10 s
  // Reconnection delay for an SSE stream when the server sent no `retry:`.
  absl::Duration default_retry = absl::Seconds(1);  // Default: 1 s
  // Reopening a stream that keeps ending without its answer stops after this many
  // attempts (the request then fails).
  int max_resume_attempts = 5;  // Default: 5
  absl::Duration delete_timeout = absl::Seconds(2);  // Default: 2 s, the DELETE at Close
  // After notifications/initialized, other messages wait this long at most for
  // the server's GET stream to open: a server may send requests that belong to no
  // request of ours there (elicitation from a tool that does not pass its request
  // id on), and without an event store it drops them while no stream is open.
  absl::Duration get_stream_wait = absl::Seconds(2);  // Default: 2 s
};

// Thread-safe. One I/O thread drives every transfer with a curl multi handle;
// callbacks run on it.
class HttpTransport final : public Transport {
 public:
  explicit HttpTransport(HttpTransportOptions options);
  ~HttpTransport() override;  // Close()
  HttpTransport(const HttpTransport&) = delete;
  HttpTransport& operator=(const HttpTransport&) = delete;

  absl::Status Start(Callbacks callbacks) override;
  // Queues the message; never blocks on the network. A request whose POST fails
  // (HTTP error) is answered with a JSON-RPC error; one that cannot reach the
  // server closes the transport.
  absl::Status Send(const std::string& message) override;
  void SetProtocolVersion(const std::string& version) override;
  // REQUIRES: not called from inside a callback of this transport.
  void Close() override;
  std::string kind() const override;

  std::string session_id() const;

 private:
  struct Transfer;
  struct Outgoing {
    std::string body;
    std::string method;     // empty for a response
    std::string id_json;    // the request id as JSON text; empty for notifications/responses
    std::string traceparent;  // params._meta.traceparent, sent as the traceparent header too
    std::string tracestate;   // params._meta.tracestate, likewise (only with a traceparent)
  };

  void Loop();
  void StartPost(Outgoing message);
  void StartGet(std::string last_event_id, std::string resume_id_json, int attempt);
  void StartLegacyStream();
  void AddTransfer(std::unique_ptr<Transfer> transfer);
  void Finish(Transfer* transfer, int curl_code);
  // Passes one message from the server on; notes when it answers the transfer's request.
  void Deliver(Transfer* transfer, const std::string& data);
  void DeliverSseEvents(Transfer* transfer, const char* data, size_t n);
  // Answers the request `id_json` with a JSON-RPC error; kNotDelivered when
  // `delivered` is false (the server never saw it).
  void FailRequest(const std::string& id_json, const std::string& why, bool delivered = true);
  void Fail(const std::string& why);
  // Lets the messages held for the GET stream go (in order, before newer ones).
  void ReleaseHeld();
  // Reopens a stream (or the GET stream) after `delay`.
  void ScheduleGet(absl::Duration delay, std::string last_event_id, std::string resume_id_json, int attempt);
  void* BaseHeaders(bool json_body, bool accept_json) const;  // curl_slist*

  static size_t OnHeader(char* data, size_t size, size_t n, void* user);
  static size_t OnBody(char* data, size_t size, size_t n, void* user);

  const HttpTransportOptions options_;
  Callbacks callbacks_;

  mutable absl::Mutex mu_;
  std::deque<Outgoing> queue_ ABSL_GUARDED_BY(mu_);
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  bool closing_ ABSL_GUARDED_BY(mu_) = false;
  bool failed_ ABSL_GUARDED_BY(mu_) = false;
  std::string session_id_ ABSL_GUARDED_BY(mu_);
  std::string protocol_version_ ABSL_GUARDED_BY(mu_);
  bool legacy_ ABSL_GUARDED_BY(mu_) = false;
  std::string legacy_endpoint_ ABSL_GUARDED_BY(mu_);  // empty until the endpoint event

  // Owned by the I/O thread.
  void* multi_ = nullptr;  // CURLM*
  std::map<void*, std::unique_ptr<Transfer>> transfers_;  // by CURL*
  std::multimap<absl::Time, std::unique_ptr<Transfer>> scheduled_;  // GETs to start later
  std::deque<Outgoing> legacy_waiting_;  // posts waiting for the legacy endpoint
  bool get_stream_open_ = false;         // one server GET stream at a time
  std::optional<absl::Time> hold_until_;  // set while posts wait for the GET stream
  std::deque<Outgoing> held_;             // those posts
  std::optional<absl::Duration> retry_;  // the last `retry:` a stream gave
  absl::Duration get_backoff_;           // for a GET stream that keeps failing

  std::thread thread_;  // last
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_HTTP_TRANSPORT_H_
