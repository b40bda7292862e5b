#include "workers/bridge_tool_executor.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include "absl/strings/str_cat.h"
#include "absl/synchronization/notification.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/tracing/span.h"

namespace baton::worker {

using json = nlohmann::json;

BridgeToolExecutor::BridgeToolExecutor(BridgeToolExecutorOptions options)
    : BridgeToolExecutor(options, NewChannel(options.address, ChannelOptions{.tls = options.tls})) {}

BridgeToolExecutor::BridgeToolExecutor(BridgeToolExecutorOptions options, std::shared_ptr<grpc::Channel> channel)
    : options_(std::move(options)), channel_(std::move(channel)), stub_(v1::ToolService::NewStub(channel_)) {}

bool BridgeToolExecutor::WaitForBridge(const std::function<bool()>& is_cancelled) {
  if (channel_->GetState(/*try_to_connect=*/true) == GRPC_CHANNEL_READY) return true;
  const absl::Time deadline = absl::Now() + options_.connect_wait;
  while (absl::Now() < deadline) {
    if (is_cancelled && is_cancelled()) return false;
    const absl::Time slice = std::min(deadline, absl::Now() + absl::Milliseconds(100));
    if (channel_->WaitForConnected(absl::ToChronoTime(slice))) return true;
  }
  return false;
}

absl::StatusOr<std::vector<ToolDefinition>> BridgeToolExecutor::ListTools() {
  if (!WaitForBridge(nullptr)) {
    return absl::UnavailableError(absl::StrCat("the MCP bridge at ", options_.address, " is unreachable"));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.list_timeout));
  v1::ListToolsRequest request;
  v1::ListToolsResponse response;
  grpc::Status status = stub_->ListTools(&ctx, request, &response);
  if (!status.ok()) {
    return absl::UnavailableError(
        absl::StrCat("the MCP bridge at ", options_.address, " did not list its tools: ", status.error_message()));
  }
  std::vector<ToolDefinition> tools;
  for (const v1::ToolInfo& t : response.tools()) {
    json schema = json::parse(t.input_schema_json(), nullptr, false);
    if (schema.is_discarded() || !schema.is_object()) schema = {{"type", "object"}};
    tools.push_back(ToolDefinition{t.name(), t.description(), std::move(schema), t.read_only(), t.idempotent()});
  }
  return tools;
}

absl::StatusOr<ToolOutput> BridgeToolExecutor::CallTool(const std::string& name, const json& input,
                                                        const ToolCallContext& context) {
  v1::CallToolRequest request;
  request.set_name(name);
  request.set_arguments_json(input.dump(-1, ' ', false, json::error_handler_t::replace));
  request.set_run_id(context.run_id);
  request.set_step(context.step);
  request.set_tool_use_id(context.tool_use_id);
  request.set_idempotency_key(context.idempotency_key);
  for (const std::string& pattern : context.allowed_tools) request.add_allowed_tools(pattern);
  request.set_timeout_ms(absl::ToInt64Milliseconds(context.timeout));
  // A value this build does not know gives nothing away.
  request.set_elicitation(v1::ElicitationPolicy_IsValid(context.elicitation)
                              ? static_cast<v1::ElicitationPolicy>(context.elicitation)
                              : v1::ELICITATION_DECLINE);
  const absl::Duration max_duration = std::max(options_.max_call_duration, context.timeout);
  request.set_max_duration_ms(absl::ToInt64Milliseconds(max_duration));

  if (!WaitForBridge(context.is_cancelled)) {
    if (context.is_cancelled && context.is_cancelled()) {
      return absl::CancelledError("the run was cancelled during the tool call");
    }
    return absl::UnavailableError(absl::StrCat("the MCP bridge at ", options_.address, " is unreachable"));
  }
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + max_duration + options_.call_grace));
  // The call's span (execute_tool) goes with it: the bridge's span nests under it.
  if (const tracing::SpanContext span = tracing::CurrentSpanContext(); span.valid()) {
    ctx.AddMetadata(tracing::kTraceparentKey, tracing::FormatTraceparent(span));
    if (!span.trace_state.empty()) ctx.AddMetadata(tracing::kTracestateKey, span.trace_state);
  }
  v1::CallToolResponse response;
  grpc::Status status;
  absl::Notification done;
  stub_->async()->CallTool(&ctx, &request, &response, [&](grpc::Status s) {
    status = std::move(s);
    done.Notify();
  });
  bool cancelled = false;
  while (!done.WaitForNotificationWithTimeout(options_.cancel_poll)) {
    if (!cancelled && context.is_cancelled && context.is_cancelled()) {
      cancelled = true;
      ctx.TryCancel();  // the bridge cancels the MCP call (notifications/cancelled)
    }
  }
  if (cancelled) return absl::CancelledError("the run was cancelled during the tool call");
  if (!status.ok()) {
    // Whatever the code, the tool could not be reached through the bridge: the
    // caller may retry.
    return absl::UnavailableError(
        absl::StrCat("the MCP bridge at ", options_.address, " failed the call: ", status.error_message()));
  }
  json content = json::parse(response.content_json(), nullptr, false);
  if (content.is_discarded()) content = json(response.content_json());
  if (response.outcome() == v1::TOOL_OUTCOME_SERVER_UNAVAILABLE && response.reached_server()) {
    // The server went away with the call in flight: whether it ran is unknown.
    std::string text = content.is_array() && !content.empty() ? content[0].value("text", "") : "";
    return absl::UnavailableError(text.empty() ? "the MCP server went away during the call" : text);
  }
  return ToolOutput{std::move(content), response.is_error()};
}

CompositeToolExecutor::CompositeToolExecutor(std::vector<ToolExecutor*> parts)
    : parts_(std::move(parts)), last_(parts_.size()) {}

absl::StatusOr<std::vector<ToolDefinition>> CompositeToolExecutor::ListTools() {
  std::vector<absl::StatusOr<std::vector<ToolDefinition>>> listed;
  for (ToolExecutor* part : parts_) listed.push_back(part->ListTools());
  absl::MutexLock lock(&mu_);
  std::vector<ToolDefinition> all;
  std::map<std::string, ToolExecutor*> route;
  for (size_t i = 0; i < parts_.size(); ++i) {
    if (listed[i].ok()) {
      last_[i] = *listed[i];
    } else if (!last_[i].has_value()) {
      return listed[i].status();
    }
    for (const ToolDefinition& t : *last_[i]) {
      if (route.emplace(t.name, parts_[i]).second) all.push_back(t);
    }
  }
  route_ = std::move(route);
  return all;
}

absl::StatusOr<ToolOutput> CompositeToolExecutor::CallTool(const std::string& name, const json& input,
                                                           const ToolCallContext& context) {
  ToolExecutor* part = nullptr;
  {
    absl::MutexLock lock(&mu_);
    auto it = route_.find(name);
    if (it != route_.end()) part = it->second;
  }
  if (part == nullptr) {
    absl::StatusOr<std::vector<ToolDefinition>> listed = ListTools();
    if (!listed.ok()) return listed.status();
    absl::MutexLock lock(&mu_);
    auto it = route_.find(name);
    if (it == route_.end()) {
      return ToolOutput{json(absl::StrCat("Error: there is no tool named \"", name, "\"")), true};
    }
    part = it->second;
  }
  return part->CallTool(name, input, context);
}

}  // namespace baton::worker
