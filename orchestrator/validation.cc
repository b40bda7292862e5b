#include "orchestrator/validation.h"

#include "absl/strings/str_cat.h"

namespace baton::orchestrator {
namespace {

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

}  // namespace

absl::Status ValidateAgentSpec(const v1::AgentSpec& agent, bool require_name) {
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
  return absl::OkStatus();
}

absl::Status ValidateCreateRunRequest(const v1::CreateRunRequest& request) {
  const bool by_name = !request.agent_name().empty();
  const bool inline_spec = request.has_agent();
  if (by_name == inline_spec) {
    return absl::InvalidArgumentError(
        "agent_name, agent: exactly one must be set (a stored agent's name or an inline spec)");
  }
  if (!by_name && request.agent_version() != 0) {
    return absl::InvalidArgumentError("agent_version: only valid with agent_name");
  }
  if (request.agent_version() < 0) {
    return absl::InvalidArgumentError(
        absl::StrCat("agent_version: must be >= 0, got ", request.agent_version()));
  }
  if (inline_spec) {
    if (absl::Status s = ValidateAgentSpec(request.agent(), /*require_name=*/false); !s.ok()) {
      return s;
    }
  }
  if (request.input().empty()) return absl::InvalidArgumentError("input: must not be empty");
  if (request.input().size() > (8 << 20)) {
    return absl::InvalidArgumentError("input: larger than 8 MiB");
  }
  if (request.request_id().size() > 256) {
    return absl::InvalidArgumentError("request_id: longer than 256 characters");
  }
  for (const auto& [key, value] : request.labels()) {
    if (key.empty() || key.size() > 64) {
      return absl::InvalidArgumentError(
          absl::StrCat("labels: key \"", key, "\" must be 1 to 64 characters"));
    }
  }
  return absl::OkStatus();
}

absl::Status ValidateRunId(const std::string& run_id) {
  if (run_id.empty()) return absl::InvalidArgumentError("run_id: must not be empty");
  if (run_id.size() > 64 || run_id.rfind("run_", 0) != 0) {
    return absl::InvalidArgumentError(absl::StrCat("run_id: \"", run_id, "\" is not a run id"));
  }
  return absl::OkStatus();
}

}  // namespace baton::orchestrator
