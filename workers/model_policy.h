// Choosing the model of a step from the agent's ModelPolicy. Pure functions.
#ifndef BATON_WORKERS_MODEL_POLICY_H_
#define BATON_WORKERS_MODEL_POLICY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "baton/v1/agent.pb.h"

namespace baton::worker {

// What the rules look at before a step.
struct PolicyContext {
  int step = 0;
  // Tools the previous step called (its assistant turn's tool_use names).
  std::vector<std::string> previous_tools;
  // Whether a tool result of the previous step has is_error.
  bool previous_tool_error = false;
  // Input tokens of the next request; nullopt when not counted (a context_tokens_over
  // rule then does not match).
  std::optional<int64_t> context_tokens;
};

struct ModelChoice {
  std::string model;
  std::string rule;  // journaled as ModelTurn.model_rule
};

// The first rule that matches `context`, else the default model.
ModelChoice ChooseModel(const v1::AgentSpec& agent, const PolicyContext& context);

// The label of a rule: its name, else its condition ("first_step", "after_tool=X",
// "after_tool_error", "context_tokens_over=N", "from_step=N").
std::string RuleLabel(const v1::ModelRule& rule);

// Whether any rule needs the context size counted.
bool PolicyNeedsContextTokens(const v1::AgentSpec& agent);

// The previous step's tools and errors, read from the conversation (Messages API
// `messages`): the last assistant turn's tool_use blocks and the tool_result blocks of
// the user turn after it.
void FillPreviousStep(const nlohmann::json& messages, PolicyContext* context);

// The models to try after `failed` stayed overloaded: the policy's fallback_models that
// were not tried yet, in order.
std::vector<std::string> FallbackModels(const v1::AgentSpec& agent,
                                        const std::vector<std::string>& tried);

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_POLICY_H_
