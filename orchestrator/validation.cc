#include "orchestrator/validation.h"

#include <algorithm>
#include <memory>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "common/namespaces.h"
#include "common/schema_validator.h"
#include "common/transcript.h"
#include "orchestrator/graph/json_value.h"

namespace baton::orchestrator {
namespace {

absl::Status ValidateAgentSpecAt(const v1::AgentSpec& agent, bool require_name, int depth);
absl::Status ValidateSubagents(const v1::AgentSpec& agent, int depth);

bool IsNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' ||
         c == '-' || c == '.';
}

absl::Status NonNegative(const char* field, int64_t value) {
  if (value < 0) {
    return absl::InvalidArgumentError(absl::StrCat("agent.", field, ": must be >= 0, got ", value));
  }
  return absl::OkStatus();
}

absl::Status ValidateModelId(const std::string& field, const std::string& model) {
  if (model.empty()) return absl::InvalidArgumentError(absl::StrCat("agent.", field, ": must not be empty"));
  for (char c : model) {
    if (!IsNameChar(c) && c != ':' && c != '@') {
      return absl::InvalidArgumentError(absl::StrCat("agent.", field, ": \"", model, "\" is not a model id"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateModelPolicy(const v1::ModelPolicy& policy) {
  if (!policy.default_model().empty()) {
    if (absl::Status s = ValidateModelId("model_policy.default_model", policy.default_model()); !s.ok()) {
      return s;
    }
  }
  for (int i = 0; i < policy.rules_size(); ++i) {
    const v1::ModelRule& rule = policy.rules(i);
    const std::string at = absl::StrCat("model_policy.rules[", i, "]");
    if (absl::Status s = ValidateModelId(at + ".model", rule.model()); !s.ok()) return s;
    switch (rule.when_case()) {
      case v1::ModelRule::WHEN_NOT_SET:
        return absl::InvalidArgumentError(absl::StrCat(
            "agent.", at,
            ": needs a condition (first_step, after_tool, after_tool_error, context_tokens_over or from_step)"));
      case v1::ModelRule::kAfterTool:
        if (rule.after_tool().empty()) {
          return absl::InvalidArgumentError(absl::StrCat("agent.", at, ".after_tool: must not be empty"));
        }
        break;
      case v1::ModelRule::kContextTokensOver:
        if (absl::Status s = NonNegative((at + ".context_tokens_over").c_str(), rule.context_tokens_over());
            !s.ok()) {
          return s;
        }
        break;
      case v1::ModelRule::kFromStep:
        if (absl::Status s = NonNegative((at + ".from_step").c_str(), rule.from_step()); !s.ok()) return s;
        break;
      default:
        break;
    }
  }
  for (int i = 0; i < policy.fallback_models_size(); ++i) {
    if (absl::Status s = ValidateModelId(absl::StrCat("model_policy.fallback_models[", i, "]"),
                                         policy.fallback_models(i));
        !s.ok()) {
      return s;
    }
  }
  return absl::OkStatus();
}

// The output schema is the input schema of the `respond` tool the worker offers: an
// object schema the validator compiles, and no other tool of the agent named respond.
absl::Status ValidateOutputSchema(const v1::AgentSpec& agent) {
  if (!agent.has_output_schema()) return absl::OkStatus();
  constexpr char kRespond[] = "respond";
  const nlohmann::json schema = graph::StructToJson(agent.output_schema());
  if (!schema.contains("type") || schema["type"] != "object") {
    return absl::InvalidArgumentError(
        "agent.output_schema: must have \"type\": \"object\" (it is the input schema of the respond tool)");
  }
  if (absl::StatusOr<std::unique_ptr<SchemaValidator>> compiled = SchemaValidator::Compile(schema); !compiled.ok()) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.output_schema: not a usable JSON Schema: ", compiled.status().message()));
  }
  for (int i = 0; i < agent.subagents_size(); ++i) {
    if (agent.subagents(i).name() == kRespond) {
      return absl::InvalidArgumentError(absl::StrCat(
          "agent.subagents[", i, "].name: \"respond\" is the tool of output_schema; name the subagent otherwise"));
    }
  }
  for (int i = 0; i < agent.allowed_tools_size(); ++i) {
    if (agent.allowed_tools(i) == kRespond) {
      return absl::InvalidArgumentError(absl::StrCat(
          "agent.allowed_tools[", i, "]: \"respond\" is the tool of output_schema, which hides a tool of that name"));
    }
  }
  return absl::OkStatus();
}

}  // namespace

absl::Status ValidateAgentSpec(const v1::AgentSpec& agent, bool require_name) {
  return ValidateAgentSpecAt(agent, require_name, 0);
}

namespace {
absl::Status ValidateAgentSpecAt(const v1::AgentSpec& agent, bool require_name, int depth) {
  if (require_name && agent.name().empty()) {
    return absl::InvalidArgumentError("agent.name: must not be empty");
  }
  if (agent.name().size() > 128) {
    return absl::InvalidArgumentError("agent.name: longer than 128 characters");
  }
  for (char c : agent.name()) {
    if (!IsNameChar(c)) {
      return absl::InvalidArgumentError(absl::StrCat(
          "agent.name: \"", agent.name(), "\" may hold only letters, digits, '_', '-' and '.'"));
    }
  }
  if (agent.model().empty()) return absl::InvalidArgumentError("agent.model: must not be empty");
  for (char c : agent.model()) {
    if (!IsNameChar(c) && c != ':' && c != '@') {
      return absl::InvalidArgumentError(
          absl::StrCat("agent.model: \"", agent.model(), "\" is not a model id"));
    }
  }
  if (absl::Status s = ValidateModelPolicy(agent.model_policy()); !s.ok()) return s;
  if (absl::Status s = NonNegative("max_tokens", agent.max_tokens()); !s.ok()) return s;
  if (absl::Status s = NonNegative("max_steps", agent.max_steps()); !s.ok()) return s;
  if (absl::Status s = NonNegative("max_tokens_total", agent.max_tokens_total()); !s.ok()) return s;
  if (absl::Status s = NonNegative("max_tool_calls", agent.max_tool_calls()); !s.ok()) return s;
  if (const std::string& ttl = agent.prompt_caching().ttl(); !ttl.empty() && ttl != "5m" && ttl != "1h") {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.prompt_caching.ttl: must be \"5m\" or \"1h\", got \"", ttl, "\""));
  }
  if (!(agent.max_cost_usd() >= 0) || agent.max_cost_usd() > 1e9) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.max_cost_usd: must be between 0 and 1e9, got ", agent.max_cost_usd()));
  }
  if (absl::Status s = NonNegative("max_attempts", agent.max_attempts()); !s.ok()) return s;
  if (absl::Status s = NonNegative("run_timeout_seconds", agent.run_timeout_seconds()); !s.ok()) {
    return s;
  }
  if (agent.has_temperature() && (agent.temperature() < 0 || agent.temperature() > 1)) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.temperature: must be between 0 and 1, got ", agent.temperature()));
  }
  for (int i = 0; i < agent.allowed_tools_size(); ++i) {
    const std::string& tool = agent.allowed_tools(i);
    bool ok = !tool.empty() && tool.size() <= 128;
    for (size_t j = 0; ok && j < tool.size(); ++j) {
      ok = IsNameChar(tool[j]) || (tool[j] == '*' && j + 1 == tool.size());
    }
    if (!ok) {
      return absl::InvalidArgumentError(absl::StrCat(
          "agent.allowed_tools[", i, "]: \"", tool,
          "\" is not a tool name (letters, digits, '_', '-', '.', optionally ending in '*')"));
    }
  }
  if (absl::Status s = ValidateOutputSchema(agent); !s.ok()) return s;
  return ValidateSubagents(agent, depth);
}
}  // namespace

namespace {

bool IsToolNameChar(char c) {
  return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') || c == '_' || c == '-';
}

// Prefixes the field path of an error about a nested agent ("agent.model: ..." from
// the nested check becomes "agent.subagents[0].agent.model: ...").
absl::Status Nested(const absl::Status& s, const std::string& at) {
  std::string message(s.message());
  if (message.rfind("agent.", 0) == 0) message = absl::StrCat(at, message.substr(5));
  return absl::Status(s.code(), message);
}

absl::Status ValidateSubagents(const v1::AgentSpec& agent, int depth) {
  for (int i = 0; i < agent.subagents_size(); ++i) {
    const v1::Subagent& sub = agent.subagents(i);
    const std::string at = absl::StrCat("agent.subagents[", i, "]");
    if (sub.name().empty() || sub.name().size() > 64 ||
        !std::all_of(sub.name().begin(), sub.name().end(), IsToolNameChar)) {
      return absl::InvalidArgumentError(absl::StrCat(
          at, ".name: \"", sub.name(), "\" is not a tool name (1 to 64 letters, digits, '_' or '-')"));
    }
    for (int j = 0; j < i; ++j) {
      if (agent.subagents(j).name() == sub.name()) {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".name: \"", sub.name(), "\" is used by subagents[", j, "] too"));
      }
    }
    const bool by_name = !sub.agent_name().empty();
    if (by_name == sub.has_agent()) {
      return absl::InvalidArgumentError(
          absl::StrCat(at, ": exactly one of agent_name (a stored agent) and agent (an inline spec) must be set"));
    }
    if (sub.agent_version() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".agent_version: must be >= 0, got ", sub.agent_version()));
    }
    if (!sub.input_schema_json().empty()) {
      nlohmann::json schema = nlohmann::json::parse(sub.input_schema_json(), nullptr, false);
      if (schema.is_discarded() || !schema.is_object() || schema.value("type", "") != "object") {
        return absl::InvalidArgumentError(
            absl::StrCat(at, ".input_schema_json: must be a JSON Schema object with \"type\": \"object\""));
      }
    }
    if (sub.has_agent()) {
      if (depth >= 16) return absl::InvalidArgumentError(absl::StrCat(at, ".agent: nested too deeply"));
      if (absl::Status s = ValidateAgentSpecAt(sub.agent(), false, depth + 1); !s.ok()) {
        return Nested(s, absl::StrCat(at, ".agent"));
      }
    }
  }
  for (int i = 0; i < agent.approvals_size(); ++i) {
    const v1::ApprovalRule& rule = agent.approvals(i);
    const std::string at = absl::StrCat("agent.approvals[", i, "]");
    if (rule.tools_size() == 0) return absl::InvalidArgumentError(absl::StrCat(at, ".tools: must not be empty"));
    for (int j = 0; j < rule.tools_size(); ++j) {
      const std::string& tool = rule.tools(j);
      bool ok = !tool.empty() && tool.size() <= 128;
      for (size_t k = 0; ok && k < tool.size(); ++k) ok = IsNameChar(tool[k]) || (tool[k] == '*' && k + 1 == tool.size());
      if (!ok) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".tools[", j, "]: \"", tool, "\" is not a tool name or pattern"));
      }
    }
    for (int j = 0; j < rule.decisions_size(); ++j) {
      const v1::Decision d = rule.decisions(j);
      if (d != v1::APPROVE && d != v1::EDIT && d != v1::DENY && d != v1::RESPOND) {
        return absl::InvalidArgumentError(absl::StrCat(at, ".decisions[", j, "]: ", v1::Decision_Name(d),
                                                       " is not a decision on a tool call (APPROVE, EDIT, DENY, RESPOND)"));
      }
    }
    if (rule.timeout_seconds() < 0) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".timeout_seconds: must be >= 0, got ", rule.timeout_seconds()));
    }
    if (!v1::ApprovalRule::OnTimeout_IsValid(rule.on_timeout())) {
      return absl::InvalidArgumentError(absl::StrCat(at, ".on_timeout: unknown value ", rule.on_timeout()));
    }
  }
  if (agent.max_subagent_depth() < 0 || agent.max_subagent_depth() > 16) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent.max_subagent_depth: must be between 0 and 16, got ", agent.max_subagent_depth()));
  }
  if (absl::Status s = NonNegative("max_children", agent.max_children()); !s.ok()) return s;
  if (!v1::ElicitationPolicy_IsValid(agent.elicitation())) {
    return absl::InvalidArgumentError(absl::StrCat("agent.elicitation: unknown value ", agent.elicitation()));
  }
  return absl::OkStatus();
}

bool IsSessionChar(char c) { return IsNameChar(c) || c == ':'; }

}  // namespace

absl::Status ValidateCreateRunRequest(const v1::CreateRunRequest& request, const InputLimits& limits) {
  // Sizes first: a spec over its limit is not worth parsing.
  if (absl::Status s = CheckSize("input", request.input().size(), limits.max_input_bytes, "--max-input-bytes");
      !s.ok()) {
    return s;
  }
  if (request.has_agent()) {
    if (absl::Status s = CheckSize("agent", request.agent().ByteSizeLong(), limits.max_spec_bytes, "--max-spec-bytes");
        !s.ok()) {
      return s;
    }
  }
  if (request.has_graph()) {
    if (absl::Status s = CheckSize("graph", request.graph().ByteSizeLong(), limits.max_spec_bytes, "--max-spec-bytes");
        !s.ok()) {
      return s;
    }
  }
  const bool by_name = !request.agent_name().empty();
  const bool inline_spec = request.has_agent();
  const bool graph_by_name = !request.graph_name().empty();
  const bool inline_graph = request.has_graph();
  if (int(by_name) + int(inline_spec) + int(graph_by_name) + int(inline_graph) != 1) {
    return absl::InvalidArgumentError(
        "agent_name, agent, graph_name, graph: exactly one must be set (a stored agent's name, an "
        "inline agent, a stored graph's name or an inline graph)");
  }
  if (!by_name && request.agent_version() != 0) {
    return absl::InvalidArgumentError("agent_version: only valid with agent_name");
  }
  if (request.agent_version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent_version: must be >= 0, got ", request.agent_version()));
  }
  if (!graph_by_name && request.graph_version() != 0) {
    return absl::InvalidArgumentError("graph_version: only valid with graph_name");
  }
  if (request.graph_version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("graph_version: must be >= 0, got ", request.graph_version()));
  }
  if ((graph_by_name || inline_graph) && (!request.session_id().empty() || !request.continue_from().empty())) {
    return absl::InvalidArgumentError(
        "session_id, continue_from: not for graph runs (a graph's nodes are separate conversations)");
  }
  if (inline_spec) {
    if (absl::Status s = ValidateAgentSpec(request.agent(), /*require_name=*/false); !s.ok()) {
      return s;
    }
  }
  if (request.input().empty()) return absl::InvalidArgumentError("input: must not be empty");
  if (request.request_id().size() > 256) {
    return absl::InvalidArgumentError("request_id: longer than 256 characters");
  }
  if (!request.session_id().empty()) {
    if (request.session_id().size() > 128 ||
        !std::all_of(request.session_id().begin(), request.session_id().end(), IsSessionChar)) {
      return absl::InvalidArgumentError(absl::StrCat("session_id: \"", request.session_id(),
                                                     "\" must be 1 to 128 letters, digits, '_', '-', '.' or ':'"));
    }
    if (!request.continue_from().empty()) {
      return absl::InvalidArgumentError(
          "continue_from: not together with session_id (a session continues from its latest run)");
    }
  }
  if (!request.continue_from().empty()) {
    if (absl::Status s = ValidateRunId(request.continue_from()); !s.ok()) {
      return absl::InvalidArgumentError(absl::StrCat("continue_from: ", s.message().substr(8)));
    }
  }
  return ValidateLabels(request.labels());
}

absl::Status ValidateLabels(const google::protobuf::Map<std::string, std::string>& labels) {
  for (const auto& [key, value] : labels) {
    if (key.empty() || key.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels: key \"", key, "\" must be 1 to 64 characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRunId(const std::string& run_id) {
  if (run_id.empty()) return absl::InvalidArgumentError("run_id: must not be empty");
  // "<namespace>/run_...", or "run_..." from before namespaces (in "default").
  const size_t slash = run_id.find('/');
  const std::string_view bare = slash == std::string::npos ? std::string_view(run_id)
                                                           : std::string_view(run_id).substr(slash + 1);
  if (bare.size() > 64 || !bare.starts_with("run_") ||
      (slash != std::string::npos && !IsValidNamespace(std::string_view(run_id).substr(0, slash)))) {
    return absl::InvalidArgumentError(absl::StrCat("run_id: \"", run_id, "\" is not a run id"));
  }
  return absl::OkStatus();
}

namespace {

std::string ToolResultPreview(const v1::ToolResult& result, ContentScan& content) {
  std::string preview = content.valid ? std::move(content.text) : result.content_json();
  if (preview.size() > 200) preview = preview.substr(0, 200) + "…";
  return preview;
}

}  // namespace

std::string EventTextOf(const v1::JournalEntry& entry) {
  if (entry.has_model_turn()) return ScanContentJson(entry.model_turn().content_json()).text;
  if (entry.has_tool_result()) {
    ContentScan content = ScanContentJson(entry.tool_result().content_json());
    return ToolResultPreview(entry.tool_result(), content);
  }
  return "";
}

absl::Status ValidateJournalEntry(const v1::JournalEntry& entry, std::string* event_text) {
  switch (entry.entry_case()) {
    case v1::JournalEntry::kModelTurn: {
      ContentScan content = ScanContentJson(entry.model_turn().content_json());
      if (!content.valid || !content.is_array) {
        return absl::InvalidArgumentError("model_turn.content_json: not a JSON array");
      }
      if (event_text != nullptr) *event_text = std::move(content.text);
      return absl::OkStatus();
    }
    case v1::JournalEntry::kToolCall:
      if (entry.tool_call().tool_use_id().empty()) {
        return absl::InvalidArgumentError("tool_call.tool_use_id: must not be empty");
      }
      return absl::OkStatus();
    case v1::JournalEntry::kToolResult:
      if (entry.tool_result().tool_use_id().empty()) {
        return absl::InvalidArgumentError("tool_result.tool_use_id: must not be empty");
      }
      {
        ContentScan content = ScanContentJson(entry.tool_result().content_json());
        if (!content.valid) return absl::InvalidArgumentError("tool_result.content_json: not JSON");
        if (event_text != nullptr) *event_text = ToolResultPreview(entry.tool_result(), content);
      }
      return absl::OkStatus();
    case v1::JournalEntry::kSummary:
      if (entry.summary().text().empty()) return absl::InvalidArgumentError("summary.text: must not be empty");
      if (entry.summary().through_step() < 0) {
        return absl::InvalidArgumentError("summary.through_step: must be >= 0");
      }
      return absl::OkStatus();
    case v1::JournalEntry::kApprovalRequest:
      if (entry.approval_request().tool_use_id().empty()) {
        return absl::InvalidArgumentError("approval_request.tool_use_id: must not be empty");
      }
      if (entry.approval_request().timeout_ms() < 0) {
        return absl::InvalidArgumentError("approval_request.timeout_ms: must be >= 0");
      }
      return absl::OkStatus();
    case v1::JournalEntry::kApprovalDecision:
      return absl::InvalidArgumentError("approval_decision: written by the orchestrator only");
    case v1::JournalEntry::kNodeStarted:
    case v1::JournalEntry::kNodeFinished:
      return absl::InvalidArgumentError("node_started, node_finished: graph entries, written by the orchestrator only");
    case v1::JournalEntry::ENTRY_NOT_SET:
      break;
  }
  return absl::InvalidArgumentError("entry: empty");
}

}  // namespace baton::orchestrator
