#include "workers/model_policy.h"

#include <algorithm>
#include <string_view>

#include "absl/strings/str_cat.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

bool NameMatches(const std::string& name, const std::string& pattern) {
  if (!pattern.empty() && pattern.back() == '*') {
    return name.compare(0, pattern.size() - 1, pattern, 0, pattern.size() - 1) == 0;
  }
  return name == pattern;
}

bool Matches(const v1::ModelRule& rule, const PolicyContext& ctx) {
  switch (rule.when_case()) {
    case v1::ModelRule::kFirstStep:
      return rule.first_step() && ctx.step == 0;
    case v1::ModelRule::kAfterTool:
      return std::any_of(ctx.previous_tools.begin(), ctx.previous_tools.end(),
                         [&](const std::string& t) { return NameMatches(t, rule.after_tool()); });
    case v1::ModelRule::kAfterToolError:
      return rule.after_tool_error() && ctx.previous_tool_error;
    case v1::ModelRule::kContextTokensOver:
      return ctx.context_tokens.has_value() && *ctx.context_tokens > rule.context_tokens_over();
    case v1::ModelRule::kFromStep:
      return ctx.step >= rule.from_step();
    case v1::ModelRule::WHEN_NOT_SET:
      break;
  }
  return false;
}

}  // namespace

std::string RuleLabel(const v1::ModelRule& rule) {
  if (!rule.name().empty()) return rule.name();
  switch (rule.when_case()) {
    case v1::ModelRule::kFirstStep:
      return "first_step";
    case v1::ModelRule::kAfterTool:
      return absl::StrCat("after_tool=", rule.after_tool());
    case v1::ModelRule::kAfterToolError:
      return "after_tool_error";
    case v1::ModelRule::kContextTokensOver:
      return absl::StrCat("context_tokens_over=", rule.context_tokens_over());
    case v1::ModelRule::kFromStep:
      return absl::StrCat("from_step=", rule.from_step());
    case v1::ModelRule::WHEN_NOT_SET:
      break;
  }
  return "rule";
}

ModelChoice ChooseModel(const v1::AgentSpec& agent, const PolicyContext& context) {
  const v1::ModelPolicy& policy = agent.model_policy();
  for (const v1::ModelRule& rule : policy.rules()) {
    if (!rule.model().empty() && Matches(rule, context)) return {rule.model(), RuleLabel(rule)};
  }
  return {policy.default_model().empty() ? agent.model() : policy.default_model(), "default"};
}

bool PolicyNeedsContextTokens(const v1::AgentSpec& agent) {
  for (const v1::ModelRule& rule : agent.model_policy().rules()) {
    if (rule.when_case() == v1::ModelRule::kContextTokensOver) return true;
  }
  return false;
}

void FillPreviousStep(const json& messages, PolicyContext* context) {
  context->previous_tools.clear();
  context->previous_tool_error = false;
  if (!messages.is_array()) return;
  // Looked up in place: this runs every step, on the conversation's last turns.
  const auto is = [](const json& object, const char* key, std::string_view value) {
    const auto it = object.find(key);
    return it != object.end() && it->is_string() && it->get_ref<const std::string&>() == value;
  };
  const auto content_of = [](const json& message) -> const json* {
    if (!message.is_object()) return nullptr;
    const auto it = message.find("content");
    return it != message.end() && it->is_array() ? &*it : nullptr;
  };
  for (size_t i = messages.size(); i-- > 0;) {
    const json& m = messages[i];
    if (!m.is_object() || !is(m, "role", "assistant")) continue;
    if (const json* content = content_of(m)) {
      for (const json& b : *content) {
        if (b.is_object() && is(b, "type", "tool_use")) context->previous_tools.push_back(b.value("name", ""));
      }
    }
    if (const json* results = i + 1 < messages.size() ? content_of(messages[i + 1]) : nullptr) {
      for (const json& b : *results) {
        if (b.is_object() && is(b, "type", "tool_result") && b.value("is_error", false)) {
          context->previous_tool_error = true;
        }
      }
    }
    return;
  }
}

std::vector<std::string> FallbackModels(const v1::AgentSpec& agent,
                                        const std::vector<std::string>& tried) {
  std::vector<std::string> out;
  for (const std::string& m : agent.model_policy().fallback_models()) {
    if (m.empty() || std::find(tried.begin(), tried.end(), m) != tried.end()) continue;
    if (std::find(out.begin(), out.end(), m) != out.end()) continue;
    out.push_back(m);
  }
  return out;
}

}  // namespace baton::worker
