#include "mcp-bridge/bridge.h"

#include <utility>

#include "absl/strings/str_cat.h"
#include "common/logging.h"
#include "mcp-bridge/content.h"
#include "mcp-bridge/tool_names.h"

namespace baton::mcp {

using json = nlohmann::json;

namespace {

v1::CallToolResponse Refusal(v1::ToolOutcome outcome, const std::string& why) {
  v1::CallToolResponse r;
  r.set_outcome(outcome);
  r.set_is_error(true);
  r.set_content_json(TextContent(absl::StrCat(OutcomeName(outcome), ": ", why)).dump());
  return r;
}

// The response for what the server (or the connection) did with a call.
v1::CallToolResponse ResponseFor(const CallResult& result, const std::string& tool, const ServerConfig& server) {
  v1::CallToolResponse r;
  r.set_reached_server(result.sent);
  switch (result.kind) {
    case CallResult::Kind::kResult: {
      MappedResult mapped = MapCallToolResult(result.result);
      r.set_result_bytes(static_cast<int64_t>(result.result.dump().size()));
      r.set_truncated(CapContentSize(mapped.content, server.max_result_bytes));
      r.set_is_error(mapped.is_error);
      r.set_outcome(mapped.is_error ? v1::TOOL_OUTCOME_TOOL_ERROR : v1::TOOL_OUTCOME_OK);
      r.set_content_json(mapped.content.dump(-1, ' ', false, json::error_handler_t::replace));
      if (!mapped.structured_content.is_null()) {
        r.set_structured_content_json(
            mapped.structured_content.dump(-1, ' ', false, json::error_handler_t::replace));
      }
      return r;
    }
    case CallResult::Kind::kRpcError:
      if (result.error.code == kInvalidParams) {
        r = Refusal(v1::TOOL_OUTCOME_INVALID_ARGUMENTS,
                    absl::StrCat("the server rejected the call of \"", tool, "\": ", result.error.message));
      } else {
        r = Refusal(v1::TOOL_OUTCOME_PROTOCOL_ERROR,
                    absl::StrCat("the server answered the call of \"", tool, "\" with error ",
                                 DescribeError(result.error)));
      }
      break;
    case CallResult::Kind::kTimeout:
      r = Refusal(v1::TOOL_OUTCOME_TOOL_TIMEOUT,
                  absl::StrCat("\"", tool, "\" did not finish in time (", result.message,
                               "); the server was asked to cancel it, and it may have had partial effects"));
      break;
    case CallResult::Kind::kCancelled:
      r = Refusal(v1::TOOL_OUTCOME_CANCELLED, absl::StrCat("the call of \"", tool, "\" was cancelled (", result.message, ")"));
      break;
    case CallResult::Kind::kUnavailable:
      r = Refusal(v1::TOOL_OUTCOME_SERVER_UNAVAILABLE,
                  absl::StrCat("the MCP server \"", server.name, "\" is unavailable: ", result.message,
                               result.sent ? ". The call reached the server, so it may or may not have taken effect."
                                           : ". The call did not reach the server."));
      break;
  }
  r.set_reached_server(result.sent);
  return r;
}

// The MCP client's span of a call, as the semantic conventions for MCP name it.
tracing::Span StartCallSpan(const v1::CallToolRequest& request, const tracing::SpanContext& parent) {
  tracing::Span span = tracing::Tracer::Global().StartSpan(absl::StrCat("tools/call ", request.name()),
                                                           tracing::SpanKind::kClient, parent);
  span.SetAttribute("mcp.method.name", std::string("tools/call"));
  span.SetAttribute("gen_ai.operation.name", std::string("execute_tool"));
  span.SetAttribute("gen_ai.tool.name", request.name());
  if (!request.tool_use_id().empty()) span.SetAttribute("gen_ai.tool.call.id", request.tool_use_id());
  if (!request.run_id().empty()) span.SetAttribute("gen_ai.conversation.id", request.run_id());
  return span;
}

void EndCallSpan(tracing::Span& span, const v1::CallToolResponse& response) {
  const std::string outcome = OutcomeName(response.outcome());
  span.SetAttribute("baton.tool.outcome", outcome);
  span.SetAttribute("baton.tool.reached_server", response.reached_server());
  if (response.outcome() != v1::TOOL_OUTCOME_OK) span.SetError(outcome, "the call ended " + outcome);
  span.End();
}

}  // namespace

ElicitationPolicy ElicitationPolicyFrom(v1::ElicitationPolicy policy) {
  switch (policy) {
    case v1::ELICITATION_ASK:
      return ElicitationPolicy::kAsk;
    case v1::ELICITATION_ACCEPT_DEFAULTS:
      return ElicitationPolicy::kAcceptDefaults;
    case v1::ELICITATION_DECLINE:
      return ElicitationPolicy::kDecline;
    default:
      // A value from a newer worker: giving nothing away is the safe reading.
      return ElicitationPolicy::kDecline;
  }
}

void Bridge::RegisterMetrics(metrics::Registry& registry) {
  calls_total_ = registry.AddCounterFamily(
      "baton_mcp_calls_total",
      "Tool calls by MCP server, tool and outcome (server and tool empty when refused before the tool was found).");
  call_seconds_ = registry.AddHistogramFamily("baton_mcp_call_seconds", "Tool calls' duration by MCP server and tool.",
                                              metrics::Buckets::ToolCall());
  registry.AddScrapeCollector([this](metrics::ScrapeWriter& out) {
    std::vector<std::pair<std::string, ServerState>> states;
    for (const auto& server : servers_) states.emplace_back(server->config().name, server->state());
    out.Gauge("baton_mcp_server_up", "1 while the bridge is connected to the MCP server, else 0.");
    for (const auto& [name, state] : states) out.Add({{"server", name}}, state.connected ? 1 : 0);
    out.Counter("baton_mcp_server_restarts_total",
                "Connections to the MCP server lost or failed (each followed by a reconnect).");
    for (const auto& [name, state] : states) out.Add({{"server", name}}, state.restarts);
  });
}

std::string OutcomeName(v1::ToolOutcome outcome) {
  switch (outcome) {
    case v1::TOOL_OUTCOME_OK:
      return "ok";
    case v1::TOOL_OUTCOME_TOOL_ERROR:
      return "tool_error";
    case v1::TOOL_OUTCOME_NOT_ALLOWED:
      return "not_allowed";
    case v1::TOOL_OUTCOME_UNKNOWN_TOOL:
      return "unknown_tool";
    case v1::TOOL_OUTCOME_INVALID_ARGUMENTS:
      return "invalid_arguments";
    case v1::TOOL_OUTCOME_TOOL_TIMEOUT:
      return "tool_timeout";
    case v1::TOOL_OUTCOME_SERVER_UNAVAILABLE:
      return "server_unavailable";
    case v1::TOOL_OUTCOME_CANCELLED:
      return "cancelled";
    case v1::TOOL_OUTCOME_PROTOCOL_ERROR:
      return "protocol_error";
    default:
      return "unknown";
  }
}

Bridge::Bridge(std::vector<std::unique_ptr<ToolServer>> servers, AuditLog& audit, const Clock& clock,
               InputRequester* input_requester)
    : audit_(audit), clock_(clock), input_requester_(input_requester), servers_(std::move(servers)) {
  absl::MutexLock lock(&registry_mu_);
  per_server_.resize(servers_.size());
  registry_ = std::make_shared<const Registry>();
}

Bridge::~Bridge() { Stop(); }

void Bridge::Start() {
  for (size_t i = 0; i < servers_.size(); ++i) {
    servers_[i]->SetToolsChangedCallback([this, i] { Rebuild(i); });
    servers_[i]->Start();
  }
}

bool Bridge::WaitUntilStarted(absl::Duration timeout) {
  const absl::Time deadline = absl::Now() + timeout;
  bool all = true;
  for (auto& server : servers_) {
    all = server->WaitUntilStarted(std::max(absl::ZeroDuration(), deadline - absl::Now())) && all;
  }
  return all;
}

void Bridge::Stop() {
  for (auto& server : servers_) server->Stop();
}

void Bridge::Rebuild(size_t index) {
  const ToolServer& server = *servers_[index];
  const ServerConfig& config = server.config();
  std::vector<McpTool> tools;
  for (McpTool& t : server.tools()) {
    if (!config.enabled_tools.empty() && !MatchesAnyPattern(t.name, config.enabled_tools)) continue;
    if (MatchesAnyPattern(t.name, config.disabled_tools)) continue;
    tools.push_back(std::move(t));
  }
  std::vector<std::string> names;
  for (const McpTool& t : tools) names.push_back(t.name);
  std::vector<std::string> exposed = ExposedToolNames(config.name, names);
  Registry mine;
  for (size_t i = 0; i < tools.size(); ++i) {
    auto entry = std::make_shared<Entry>();
    entry->name = exposed[i];
    entry->server = index;
    absl::StatusOr<std::unique_ptr<SchemaValidator>> validator = SchemaValidator::Compile(tools[i].input_schema);
    if (validator.ok()) {
      entry->validator = std::move(*validator);
    } else {
      BATON_LOG(WARNING) << "[" << config.name << "] tool " << tools[i].name << ": " << validator.status().message()
                         << "; its arguments go unvalidated";
    }
    entry->tool = std::move(tools[i]);
    mine.emplace(entry->name, std::move(entry));
  }
  BATON_LOG(INFO) << "[" << config.name << "] " << mine.size() << " tools";
  absl::MutexLock lock(&registry_mu_);
  per_server_[index] = std::move(mine);
  auto all = std::make_shared<Registry>();
  for (const Registry& r : per_server_) all->insert(r.begin(), r.end());
  registry_ = std::move(all);
}

std::shared_ptr<const Bridge::Registry> Bridge::Snapshot() const {
  absl::MutexLock lock(&registry_mu_);
  return registry_;
}

v1::ListToolsResponse Bridge::ListTools(const v1::ListToolsRequest& request) {
  const std::vector<std::string> allowed(request.allowed_tools().begin(), request.allowed_tools().end());
  v1::ListToolsResponse response;
  std::shared_ptr<const Registry> registry = Snapshot();
  for (const auto& [name, entry] : *registry) {
    if (!allowed.empty() && !MatchesAnyPattern(name, allowed)) continue;
    v1::ToolInfo* info = response.add_tools();
    info->set_name(name);
    info->set_description(entry->tool.description.empty() ? entry->tool.title : entry->tool.description);
    info->set_input_schema_json(entry->tool.input_schema.dump(-1, ' ', false, json::error_handler_t::replace));
    info->set_read_only(entry->tool.read_only);
    info->set_idempotent(entry->tool.idempotent);
    info->set_destructive(entry->tool.destructive);
    info->set_open_world(entry->tool.open_world);
    info->set_server(servers_[entry->server]->config().name);
    info->set_mcp_name(entry->tool.name);
    info->set_title(entry->tool.title);
    if (!entry->tool.output_schema.is_null()) {
      info->set_output_schema_json(entry->tool.output_schema.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  for (const auto& server : servers_) {
    const ServerState state = server->state();
    v1::ServerStatus* s = response.add_servers();
    s->set_name(server->config().name);
    s->set_transport(TransportKindName(server->config().transport));
    s->set_connected(state.connected);
    s->set_protocol_version(state.info.protocol_version);
    s->set_server_name(state.info.name);
    s->set_server_version(state.info.version);
    s->set_tool_count(state.tool_count);
    s->set_restarts(state.restarts);
    s->set_last_error(state.last_error);
  }
  return response;
}

Bridge::CallId Bridge::CallTool(const v1::CallToolRequest& request, std::function<void(v1::CallToolResponse)> done,
                                const tracing::SpanContext& parent) {
  const absl::Time start = clock_.Now();
  auto span = std::make_shared<tracing::Span>(StartCallSpan(request, parent));
  CallId id;
  {
    absl::MutexLock lock(&calls_mu_);
    id = next_call_++;
  }
  auto audit = std::make_shared<AuditRecord>();
  audit->run_id = request.run_id();
  audit->step = request.step();
  audit->tool_use_id = request.tool_use_id();
  audit->idempotency_key = request.idempotency_key();
  audit->tool = request.name();
  audit->arguments_sha256 = Sha256Hex(request.arguments_json());
  audit->arguments_bytes = static_cast<int64_t>(request.arguments_json().size());
  // Every way a call ends goes through here: audit, then answer.
  auto finish = [this, start, audit, span, done = std::move(done)](v1::CallToolResponse r) {
    EndCallSpan(*span, r);
    const absl::Time end = clock_.Now();
    r.set_duration_ms(absl::ToInt64Milliseconds(end - start));
    audit->time = end;
    audit->duration_ms = r.duration_ms();
    audit->outcome = OutcomeName(r.outcome());
    audit->reached_server = r.reached_server();
    audit->result_bytes = r.result_bytes();
    audit->truncated = r.truncated();
    audit_.Write(*audit);
    // Labels from the registry only (a refused name the model made up is not one).
    if (calls_total_.enabled()) {
      calls_total_.With({{"server", audit->server}, {"tool", audit->mcp_tool}, {"outcome", audit->outcome}})
          .Increment();
      call_seconds_.With({{"server", audit->server}, {"tool", audit->mcp_tool}}).ObserveDuration(end - start);
    }
    done(std::move(r));
  };

  const std::vector<std::string> allowed(request.allowed_tools().begin(), request.allowed_tools().end());
  if (!MatchesAnyPattern(request.name(), allowed)) {
    finish(Refusal(v1::TOOL_OUTCOME_NOT_ALLOWED,
                   absl::StrCat("the tool \"", request.name(), "\" is not in this agent's allowed_tools")));
    return id;
  }
  std::shared_ptr<const Registry> registry = Snapshot();
  auto found = registry->find(request.name());
  if (found == registry->end()) {
    finish(Refusal(v1::TOOL_OUTCOME_UNKNOWN_TOOL, absl::StrCat("there is no tool named \"", request.name(), "\"")));
    return id;
  }
  std::shared_ptr<const Entry> entry = found->second;
  ToolServer* server = servers_[entry->server].get();
  const ServerConfig& config = server->config();
  audit->server = config.name;
  audit->mcp_tool = entry->tool.name;
  span->SetAttribute("baton.mcp.server", config.name);
  span->SetAttribute("baton.mcp.tool", entry->tool.name);
  auto with_hints = [entry](v1::CallToolResponse r) {
    r.set_read_only(entry->tool.read_only);
    r.set_idempotent(entry->tool.idempotent);
    return r;
  };

  json arguments = request.arguments_json().empty() ? json::object()
                                                    : json::parse(request.arguments_json(), nullptr, false);
  if (arguments.is_discarded() || !arguments.is_object()) {
    finish(with_hints(Refusal(v1::TOOL_OUTCOME_INVALID_ARGUMENTS,
                              absl::StrCat("the arguments of \"", request.name(), "\" must be a JSON object"))));
    return id;
  }
  if (entry->validator != nullptr) {
    if (absl::Status valid = entry->validator->Validate(arguments); !valid.ok()) {
      finish(with_hints(Refusal(v1::TOOL_OUTCOME_INVALID_ARGUMENTS,
                                absl::StrCat("the arguments do not match the input schema of \"", request.name(),
                                             "\": ", valid.message()))));
      return id;
    }
  }

  CallOptions options;
  options.timeout = config.call_timeout;
  if (request.timeout_ms() > 0) options.timeout = std::min(options.timeout, absl::Milliseconds(request.timeout_ms()));
  options.max_duration = config.max_call_duration;
  if (request.max_duration_ms() > 0) {
    options.max_duration = std::min(options.max_duration, absl::Milliseconds(request.max_duration_ms()));
  }
  options.max_duration = std::max(options.max_duration, options.timeout);
  if (!request.idempotency_key().empty()) options.meta[kIdempotencyMetaKey] = request.idempotency_key();
  options.meta[kTraceparentMetaKey] = tracing::FormatTraceparent(span->context());
  if (!span->context().trace_state.empty()) options.meta[kTracestateMetaKey] = span->context().trace_state;
  options.elicitation.policy = ElicitationPolicyFrom(request.elicitation());
  options.elicitation.requester = input_requester_;
  options.elicitation.call = ToolCallRef{request.run_id(), request.step(), request.tool_use_id(), request.name()};

  {
    absl::MutexLock lock(&calls_mu_);
    calls_[id] = InFlight{server, 0, false, ""};
  }
  const int64_t handle = server->CallTool(
      entry->tool.name, std::move(arguments), options,
      [this, id, entry, &config, finish = std::move(finish), with_hints](CallResult result) {
        {
          absl::MutexLock lock(&calls_mu_);
          calls_.erase(id);
        }
        finish(with_hints(ResponseFor(result, entry->name, config)));
      });
  std::string cancel_reason;
  {
    absl::MutexLock lock(&calls_mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return id;  // finished already
    it->second.handle = handle;
    if (!it->second.cancel_requested) return id;
    cancel_reason = it->second.cancel_reason;
  }
  server->CancelCall(handle, cancel_reason);
  return id;
}

void Bridge::Cancel(CallId id, const std::string& reason) {
  ToolServer* server;
  int64_t handle;
  {
    absl::MutexLock lock(&calls_mu_);
    auto it = calls_.find(id);
    if (it == calls_.end()) return;
    if (it->second.handle == 0) {
      // CallTool has not got the server's handle yet: it cancels when it does.
      it->second.cancel_requested = true;
      it->second.cancel_reason = reason;
      return;
    }
    server = it->second.server;
    handle = it->second.handle;
  }
  server->CancelCall(handle, reason);
}

}  // namespace baton::mcp
