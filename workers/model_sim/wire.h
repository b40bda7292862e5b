// Messages API wire format as the simulator writes it: message objects, usage,
// error bodies, SSE event sequences, ids and token estimates. Pure functions.
#ifndef BATON_WORKERS_MODEL_SIM_WIRE_H_
#define BATON_WORKERS_MODEL_SIM_WIRE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/strings/string_view.h"
#include "common/fnv1a.h"

namespace baton::model_sim {

// Key order matters on the wire (and in the request log): keep it as received.
using Json = nlohmann::ordered_json;

// An error the simulator answers with: HTTP status, API error type, message.
struct ApiError {
  int status = 400;
  std::string type = "invalid_request_error";
  std::string message;
};

// obj[key] when `obj` is an object holding a string under `key`, else `def`. Never
// throws, unlike Json::value() on a value of another type.
std::string StringField(const Json& obj, const std::string& key, const std::string& def = "");

// 400 invalid_request_error, 401 authentication_error, ..., 529 overloaded_error.
std::string ErrorTypeForStatus(int status);
int StatusForErrorType(absl::string_view type);

// {"type":"error","error":{"type":..,"message":..},"request_id":..}
Json ErrorBody(const std::string& type, const std::string& message, const std::string& request_id);

// ceil(chars / 4), at least 1 for non-empty input.
int64_t EstimateTokens(size_t chars);
// Estimate over the JSON of the request's system, messages and tools (count_tokens
// and a message's usage.input_tokens agree).
int64_t EstimateInputTokens(const Json& request);
// Estimate over the reply's text, thinking, tool names and tool inputs.
int64_t EstimateOutputTokens(const Json& content);

// usage with every field the API reports; cache fields are 0.
Json MakeUsage(int64_t input_tokens, int64_t output_tokens);

Json MakeMessage(const std::string& id, const std::string& model, Json content,
                 const std::string& stop_reason, Json stop_sequence, Json usage);

// One SSE frame: "event: <type>\ndata: <json>\n\n".
std::string SseEvent(const std::string& type, const Json& data);

// The SSE frames of `message` in the API's order: message_start (empty content,
// usage with output_tokens 1), per block content_block_start / one or more
// content_block_delta / content_block_stop with a ping after the first
// content_block_start, message_delta (stop_reason, cumulative usage), message_stop.
std::vector<std::string> MessageToSseEvents(const Json& message);

// Splits `s` into pieces of at most `max_bytes` bytes (at least 1), never inside a
// UTF-8 sequence.
std::vector<std::string> SplitUtf8(absl::string_view s, size_t max_bytes);

// 64-bit FNV-1a, chained through `seed` (common/fnv1a.h).
using ::baton::Fnv1a;
// prefix + "01" + 22 base62 characters derived from (a, b), e.g. "toolu_01Ab...".
std::string MakeId(absl::string_view prefix, uint64_t a, uint64_t b);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_WIRE_H_
