#include "workers/run_spans.h"

#include <cstdint>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/fnv1a.h"
#include "common/logging.h"
#include "common/tracing/otlp_http_exporter.h"
#include "workers/agent_loop.h"
#include "workers/model/api_error.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;
using tracing::Span;
using tracing::SpanKind;
using tracing::Tracer;

constexpr char kProvider[] = "anthropic";

// A short class of failure for error.type: the API's error type when it sent one
// ("overloaded_error"), the status code's name otherwise ("DEADLINE_EXCEEDED").
std::string ErrorType(const absl::Status& status) {
  std::string api = ApiErrorTypeOf(status);
  return api.empty() ? absl::StatusCodeToString(status.code()) : api;
}

int64_t Int(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_number_integer() ? it->get<int64_t>() : 0;
}

std::string Str(const json& object, const char* key) {
  auto it = object.find(key);
  return it != object.end() && it->is_string() ? it->get<std::string>() : "";
}

// A span always has ids (log lines and traceparents name it); its name and attributes
// are built only when it records, since that is most runs' every step and tool call.
Span StartChatSpan(const std::string& model, int64_t max_tokens) {
  const Tracer& tracer = Tracer::Global();
  Span span = tracer.StartSpan(tracer.exporting() && !model.empty() ? absl::StrCat("chat ", model) : "chat",
                               SpanKind::kClient, tracing::CurrentSpanContext());
  if (!span.recording()) return span;
  span.SetAttribute("gen_ai.operation.name", std::string("chat"));
  span.SetAttribute("gen_ai.provider.name", std::string(kProvider));
  if (!model.empty()) span.SetAttribute("gen_ai.request.model", model);
  if (max_tokens > 0) span.SetAttribute("gen_ai.request.max_tokens", max_tokens);
  if (const std::string& run_id = CurrentLogContext().run_id; !run_id.empty()) {
    span.SetAttribute("gen_ai.conversation.id", run_id);
  }
  return span;
}

void EndChatSpan(Span& span, const absl::StatusOr<ModelResponse>& response) {
  if (!span.recording()) return;
  if (!response.ok()) {
    span.SetError(ErrorType(response.status()), std::string(response.status().message()));
    span.End();
    return;
  }
  const json& message = response->message;
  static const json kNoUsage = json::object();
  const auto usage_it = message.find("usage");
  const json& usage = usage_it != message.end() && usage_it->is_object() ? *usage_it : kNoUsage;
  const int64_t cache_creation = Int(usage, "cache_creation_input_tokens");
  const int64_t cache_read = Int(usage, "cache_read_input_tokens");
  span.SetAttribute("gen_ai.response.id", Str(message, "id"));
  span.SetAttribute("gen_ai.response.model", Str(message, "model"));
  if (const std::string stop = Str(message, "stop_reason"); !stop.empty()) {
    span.SetAttribute("gen_ai.response.finish_reasons", std::vector<std::string>{stop});
  }
  // The conventions count every input token, cached or not; Anthropic's input_tokens
  // leaves out the tokens read from and written to the cache.
  span.SetAttribute("gen_ai.usage.input_tokens", Int(usage, "input_tokens") + cache_creation + cache_read);
  span.SetAttribute("gen_ai.usage.output_tokens", Int(usage, "output_tokens"));
  span.SetAttribute("gen_ai.usage.cache_creation.input_tokens", cache_creation);
  span.SetAttribute("gen_ai.usage.cache_read.input_tokens", cache_read);
  if (response->time_to_first_chunk > absl::ZeroDuration()) {
    span.SetAttribute("gen_ai.response.time_to_first_chunk", absl::ToDoubleSeconds(response->time_to_first_chunk));
  }
  if (!response->request_id.empty()) span.SetAttribute("baton.model.request_id", response->request_id);
  span.SetAttribute("baton.model.attempts", static_cast<int64_t>(response->attempts));
  if (tracing::CaptureMessageContent()) {
    span.SetAttribute("gen_ai.output.messages",
                      json::array({{{"role", "assistant"}, {"content", message.value("content", json::array())}}})
                          .dump(-1, ' ', false, json::error_handler_t::replace));
  }
  span.End();
}

std::string Joined(const SerializedRequest& request, std::string_view key) {
  for (const SerializedRequest::Member& member : request.members) {
    if (member.key != key) continue;
    std::string out;
    for (std::string_view piece : member.value) out.append(piece);
    return out;
  }
  return "";
}

const char* OutcomeName(RunOutcome::Kind kind) {
  switch (kind) {
    case RunOutcome::Kind::kSucceeded: return "succeeded";
    case RunOutcome::Kind::kFailed: return "failed";
    case RunOutcome::Kind::kCancelled: return "cancelled";
    case RunOutcome::Kind::kLeaseLost: return "lease_lost";
    case RunOutcome::Kind::kReleased: return "released";
    case RunOutcome::Kind::kSuspended: return "suspended";
  }
  return "unknown";
}

}  // namespace

tracing::SpanContext RunParentContext(const v1::Run& run) {
  tracing::SpanContext parent;
  if (tracing::IsValidId(run.trace().trace_id(), 32)) {
    parent.trace_id = run.trace().trace_id();
    if (tracing::IsValidId(run.trace().parent_span_id(), 16)) parent.span_id = run.trace().parent_span_id();
    parent.sampled = run.trace().sampled();
    parent.trace_state = run.trace().tracestate();
  } else {
    // Stable in every process, so every attempt derives the same id.
    const uint64_t high = Fnv1a(run.run_id());
    parent.trace_id = absl::StrFormat("%016x%016x", high, Fnv1a(run.run_id(), high));
    parent.sampled = true;
  }
  return parent;
}

Span StartInvokeAgentSpan(const v1::Run& run, int64_t epoch, const std::string& worker_id) {
  const std::string& agent = run.agent().name();
  const tracing::SpanContext parent = RunParentContext(run);
  const Tracer& tracer = Tracer::Global();
  Span span = tracer.StartSpan(tracer.exporting() && !agent.empty() ? absl::StrCat("invoke_agent ", agent)
                                                                    : "invoke_agent",
                               SpanKind::kInternal, parent, parent.trace_id);
  if (!span.recording()) return span;
  span.SetAttribute("gen_ai.operation.name", std::string("invoke_agent"));
  span.SetAttribute("gen_ai.provider.name", std::string(kProvider));
  if (!agent.empty()) span.SetAttribute("gen_ai.agent.name", agent);
  if (!run.agent().model().empty()) span.SetAttribute("gen_ai.request.model", run.agent().model());
  span.SetAttribute("gen_ai.conversation.id", run.run_id());
  span.SetAttribute("baton.run.attempt", static_cast<int64_t>(run.attempt()));
  span.SetAttribute("baton.run.epoch", epoch);
  span.SetAttribute("baton.worker.id", worker_id);
  if (!run.parent_run_id().empty()) span.SetAttribute("baton.run.parent_id", run.parent_run_id());
  if (tracing::CaptureMessageContent()) span.SetAttribute("gen_ai.input.messages", run.input());
  return span;
}

void EndInvokeAgentSpan(Span& span, const RunOutcome& outcome) {
  if (!span.recording()) return;
  span.SetAttribute("baton.run.outcome", std::string(OutcomeName(outcome.kind)));
  span.SetAttribute("baton.run.steps", static_cast<int64_t>(outcome.steps));
  if (outcome.kind == RunOutcome::Kind::kFailed) {
    span.SetError(v1::FailureKind_Name(outcome.failure_kind), outcome.error);
  }
  if (outcome.kind == RunOutcome::Kind::kSucceeded && tracing::CaptureMessageContent()) {
    span.SetAttribute("gen_ai.output.messages", outcome.output);
  }
  span.End();
}

absl::StatusOr<ModelResponse> TracingModelClient::CreateMessage(const nlohmann::json& request,
                                                                const ModelCallOptions& options) {
  Span span = StartChatSpan(Str(request, "model"), Int(request, "max_tokens"));
  if (tracing::CaptureMessageContent() && span.recording()) {
    span.SetAttribute("gen_ai.input.messages",
                      request.value("messages", json::array()).dump(-1, ' ', false, json::error_handler_t::replace));
    if (request.contains("system")) {
      span.SetAttribute("gen_ai.system_instructions",
                        request["system"].dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  tracing::ScopedSpan scope(span);
  absl::StatusOr<ModelResponse> response = inner_.CreateMessage(request, options);
  EndChatSpan(span, response);
  return response;
}

absl::StatusOr<ModelResponse> TracingModelClient::CreateMessageSerialized(const SerializedRequest& request,
                                                                          const ModelCallOptions& options) {
  Span span = StartChatSpan(request.model, request.max_tokens);
  if (tracing::CaptureMessageContent() && span.recording()) {
    span.SetAttribute("gen_ai.input.messages", Joined(request, "messages"));
    if (std::string system = Joined(request, "system"); !system.empty()) {
      span.SetAttribute("gen_ai.system_instructions", std::move(system));
    }
  }
  tracing::ScopedSpan scope(span);
  absl::StatusOr<ModelResponse> response = inner_.CreateMessageSerialized(request, options);
  EndChatSpan(span, response);
  return response;
}

absl::StatusOr<ToolOutput> TracingToolExecutor::CallTool(const std::string& name, const nlohmann::json& input,
                                                         const ToolCallContext& context) {
  const Tracer& tracer = Tracer::Global();
  Span span = tracer.StartSpan(tracer.exporting() ? absl::StrCat("execute_tool ", name) : "execute_tool",
                               SpanKind::kInternal, tracing::CurrentSpanContext());
  if (span.recording()) {
    span.SetAttribute("gen_ai.operation.name", std::string("execute_tool"));
    span.SetAttribute("gen_ai.tool.name", name);
    span.SetAttribute("gen_ai.tool.call.id", context.tool_use_id);
    // MCP tools (the bridge's, named mcp__<server>__<tool>) extend the agent; the
    // worker's built-in tools are its own functions.
    span.SetAttribute("gen_ai.tool.type", std::string(absl::StartsWith(name, "mcp__") ? "extension" : "function"));
    if (!context.run_id.empty()) span.SetAttribute("gen_ai.conversation.id", context.run_id);
    span.SetAttribute("baton.step", static_cast<int64_t>(context.step));
  }
  const bool capture = tracing::CaptureMessageContent() && span.recording();
  if (capture) {
    span.SetAttribute("gen_ai.tool.call.arguments", input.dump(-1, ' ', false, json::error_handler_t::replace));
  }
  tracing::ScopedSpan scope(span);
  absl::StatusOr<ToolOutput> output = inner_.CallTool(name, input, context);
  if (!output.ok()) {
    span.SetError(absl::StatusCodeToString(output.status().code()), std::string(output.status().message()));
  } else {
    if (output->is_error) span.SetError("tool_error", "the tool answered with is_error");
    if (capture) {
      span.SetAttribute("gen_ai.tool.call.result",
                        output->content.dump(-1, ' ', false, json::error_handler_t::replace));
    }
  }
  span.End();
  return output;
}

}  // namespace baton::worker
