// The bridge's core: one registry of every server's tools under their exposed
// names, and the policy applied to every call (allowed_tools, argument validation,
// timeouts, result size cap), with an audit record per call. Transport-free: the
// servers are ToolServer interfaces and requests/responses are the ToolService
// protobuf messages, so all of it is tested with fake servers.
#ifndef BATON_MCP_BRIDGE_BRIDGE_H_
#define BATON_MCP_BRIDGE_BRIDGE_H_

#include <functional>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/tool_service.pb.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "common/schema_validator.h"
#include "common/tracing/span.h"
#include "mcp-bridge/audit_log.h"
#include "mcp-bridge/input_requester.h"
#include "mcp-bridge/tool_server.h"

namespace baton::mcp {

// The _meta key that carries the idempotency key to servers.
inline constexpr char kIdempotencyMetaKey[] = "baton/idempotencyKey";
// The _meta key that carries the call's W3C traceparent to servers (the bridge's span).
inline constexpr char kTraceparentMetaKey[] = "traceparent";
// ... and its W3C tracestate, when the trace has one.
inline constexpr char kTracestateMetaKey[] = "tracestate";

// Thread-safe. Owns the servers; `audit`, `clock` and `input_requester` must outlive
// it.
class Bridge {
 public:
  using CallId = int64_t;

  // `input_requester` asks a person for the calls whose elicitation policy is ASK;
  // null (no orchestrator configured): those calls decline.
  Bridge(std::vector<std::unique_ptr<ToolServer>> servers, AuditLog& audit, const Clock& clock,
         InputRequester* input_requester = nullptr);
  ~Bridge();  // Stop()
  Bridge(const Bridge&) = delete;
  Bridge& operator=(const Bridge&) = delete;

  // Starts every server's connection.
  void Start();
  // Waits until every server has finished its first connection attempt, up to
  // `timeout`. Returns whether all did.
  bool WaitUntilStarted(absl::Duration timeout);
  // Stops every server; calls in flight fail as server_unavailable.
  void Stop();

  // Prometheus metrics (docs/operations.md, "Metrics"): calls by server, tool and
  // outcome and their latency; each server up or not and its restarts, read when
  // scraped. REQUIRES: called before serving; `registry` outlives the scrapes.
  void RegisterMetrics(metrics::Registry& registry);

  // The tools known now (a server still connecting for the first time has none
  // yet: callers that need them wait with WaitUntilStarted first). Never blocks.
  v1::ListToolsResponse ListTools(const v1::ListToolsRequest& request);

  // Runs one call under the policy; `done` runs exactly once, possibly before this
  // returns, on some internal thread: it must not block. The call's span
  // (`tools/call {tool}`) nests under `parent` (the worker's execute_tool span, from
  // the call's traceparent), and the server gets the span's traceparent in _meta.
  CallId CallTool(const v1::CallToolRequest& request, std::function<void(v1::CallToolResponse)> done,
                  const tracing::SpanContext& parent = {});
  // The caller gave up (run cancelled, deadline): the server is told, `done` runs
  // with outcome CANCELLED. No-op when the call has finished.
  void Cancel(CallId id, const std::string& reason);

 private:
  struct Entry {
    std::string name;  // exposed
    size_t server = 0;  // index in servers_
    McpTool tool;
    std::shared_ptr<const SchemaValidator> validator;  // null: the schema could not be compiled
  };
  using Registry = std::map<std::string, std::shared_ptr<const Entry>>;

  // Recomputes server `index`'s part of the registry from its tool list.
  void Rebuild(size_t index);
  std::shared_ptr<const Registry> Snapshot() const;

  AuditLog& audit_;
  const Clock& clock_;
  // Set by RegisterMetrics before serving, then only read (empty: off).
  metrics::CounterFamily calls_total_;     // {server, tool, outcome}
  metrics::HistogramFamily call_seconds_;  // {server, tool}
  InputRequester* const input_requester_;  // may be null
  std::vector<std::unique_ptr<ToolServer>> servers_;

  mutable absl::Mutex registry_mu_;
  // Each server's entries, and the union (rebuilt on change, read lock-free by
  // copying the pointer).
  std::vector<Registry> per_server_ ABSL_GUARDED_BY(registry_mu_);
  std::shared_ptr<const Registry> registry_ ABSL_GUARDED_BY(registry_mu_);

  struct InFlight {
    ToolServer* server = nullptr;
    int64_t handle = 0;  // 0 until the server took the call
    bool cancel_requested = false;
    std::string cancel_reason;
  };
  absl::Mutex calls_mu_;
  CallId next_call_ ABSL_GUARDED_BY(calls_mu_) = 1;
  // In-flight calls, for Cancel.
  absl::flat_hash_map<CallId, InFlight> calls_ ABSL_GUARDED_BY(calls_mu_);
};

// The readable text of a refusal or failure: "<outcome>: <why>".
std::string OutcomeName(v1::ToolOutcome outcome);

// A call's baton.v1.ElicitationPolicy as the MCP client's.
ElicitationPolicy ElicitationPolicyFrom(v1::ElicitationPolicy policy);

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_BRIDGE_H_
