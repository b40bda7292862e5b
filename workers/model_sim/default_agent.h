// The simulator's built-in "model": a small deterministic agent used when no
// scripted reply matches, so offline demos run end to end. Pure functions.
//
// It calls the offered tools one per reply, cycling through them, with inputs
// made from each tool's input_schema, until the conversation holds as many tool
// results as wanted (one per offered tool by default), then ends the turn with a
// text that summarises the tool results it saw. A tool named `respond` (an agent's
// output_schema) is not cycled through: it is the answer, called after the other
// tools instead of the text (unless a respond call got a result that is no error).
//
// Directives in the first user message steer it (see docs/model-sim.md):
//   [sim steps=N]      exactly N model calls in the run: N-1 tool calls, then the answer
//   [sim tool=NAME]    always call NAME
//   [sim sleep_ms=M]   delay every reply by M ms
//   [sim text=WORDS]   the final answer's text (the rest of the bracket)
//   [sim parallel=K]   up to K tool_use blocks per reply (default 1)
//   [sim items=N]      arrays in generated tool inputs get N items (default 1)
// Several may share a bracket: [sim steps=3 tool=echo]; `text=` takes the rest.
#ifndef BATON_WORKERS_MODEL_SIM_DEFAULT_AGENT_H_
#define BATON_WORKERS_MODEL_SIM_DEFAULT_AGENT_H_

#include <cstddef>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include "workers/model_sim/message_facts.h"
#include "workers/model_sim/request_view.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

struct Directives {
  std::optional<int> steps;
  std::optional<std::string> tool;
  int sleep_ms = 0;
  std::optional<std::string> text;
  int parallel = 1;
  std::optional<int> items;
};

// Reads the directives of the request's first user message.
Directives ParseDirectives(const Json& request);
Directives ParseDirectives(const RequestView& request);

// The text of a message's content (a string, or its text blocks joined by "\n").
std::string MessageText(const Json& message);

// A JSON value satisfying `schema`: required properties plus optional ones of a
// simple type; strings "hello", numbers 2, 3, 4... in order, booleans true, enums
// their first value, arrays `items` generated items (default 1; at least minItems, at
// most maxItems). With `items` given, or more than one item, the strings inside item k
// read "hello k" and enums take their k-th value (cycling), so the items differ.
Json InputFromSchema(const Json& schema, std::optional<int> items = std::nullopt);

// A tool_use id that depends only on the conversation so far and the block's
// position, so replaying the same prefix gives the same id.
std::string ToolUseId(const Json& request, size_t block_index);
std::string ToolUseId(const RequestView& request, size_t block_index);

// What the agent reads from one message (AgentFacts, message_facts.h).
// `previous`: the facts of the message before (nullptr for the first). A tool result
// is named after the previous message's tool_use with its id (where validation puts it).
AgentFacts AgentFactsOf(const Json& message, size_t index, const AgentFacts* previous);

struct AgentReply {
  Json content = Json::array();
  std::string stop_reason = "end_turn";
};

// REQUIRES: `request` passed ValidateRequestBody(kMessages).
AgentReply DefaultAgentReply(const Json& request, const Directives& directives);
AgentReply DefaultAgentReply(const RequestView& request, const Directives& directives);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_DEFAULT_AGENT_H_
