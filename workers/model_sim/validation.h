// Request validation with the Messages API's rules and field-naming messages.
#ifndef BATON_WORKERS_MODEL_SIM_VALIDATION_H_
#define BATON_WORKERS_MODEL_SIM_VALIDATION_H_

#include <optional>

#include "workers/model_sim/message_facts.h"
#include "workers/model_sim/request_view.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

enum class RequestKind {
  kMessages,     // POST /v1/messages
  kCountTokens,  // POST /v1/messages/count_tokens: no max_tokens, no stream
};

// Checks the body of a request; nullopt when it is valid, else a 400
// invalid_request_error whose message names the field, e.g.
// "max_tokens: Field required" or
// "messages.1: `tool_use` ids were found without `tool_result` blocks immediately
// after: toolu_1. Each `tool_use` block must have a corresponding `tool_result`
// block in the next message."
std::optional<ApiError> ValidateRequestBody(const Json& body, RequestKind kind);
// The same for a request read into a view (request_view.h).
std::optional<ApiError> ValidateRequest(const RequestView& request, RequestKind kind);

// The checks of one message (MessageChecks, message_facts.h).
// `previous`: the message before (nullptr for the first) and its checks;
// `cache_control`: the state after the blocks before this message.
MessageChecks CheckMessage(const Json& message, size_t index, const Json* previous,
                           const MessageChecks* previous_checks, const CacheControlState& cache_control);

// True when `name` matches ^[a-zA-Z0-9_-]{1,64}$.
bool IsValidToolName(const std::string& name);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_VALIDATION_H_
