// A Messages API request serialized by its caller, in pieces: what lets the agent loop
// keep a conversation's bytes between steps and send them from where they are kept.
#ifndef BATON_WORKERS_MODEL_SERIALIZED_REQUEST_H_
#define BATON_WORKERS_MODEL_SERIALIZED_REQUEST_H_

#include <cstddef>
#include <cstdint>
#include <initializer_list>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

namespace baton::worker {

// The body of a CreateMessage request as the members of its JSON object, in the order
// they are sent, without "stream" (the client sets it). Each member's value is JSON
// split into pieces sent back to back. The pieces borrow their bytes (the caller's
// kept conversation): they must outlive every use of the request. A plain aggregate;
// copying it copies the views, not the bytes.
struct SerializedRequest {
  struct Member {
    std::string_view key;                // a JSON-safe name: "messages", "model", ...
    std::vector<std::string_view> value;  // the member's JSON value, in pieces
  };
  std::vector<Member> members;
  // The values of "model" and "max_tokens", for what the client decides before sending
  // (rate limits), so it need not parse the body.
  std::string model;
  int64_t max_tokens = 0;
  // The same body in one run of bytes its builder keeps, when it lays the request out
  // that way (RequestBuilder does): exactly Body(whole_streams). A client whose call
  // streams as it does sends it as it is, so the conversation's bytes are not joined
  // anew at every call. Empty: none; join the members.
  std::string_view whole;
  bool whole_streams = false;

  // The whole body: `{"key":value,...}`, with `"stream":true` last when `stream`.
  std::string Body(bool stream) const;
  // The body of /v1/messages/count_tokens: only the members that endpoint accepts
  // (model, messages, system, tools, tool_choice, thinking, mcp_servers).
  std::string CountTokensBody() const;
  // The size of the body that would hold only the members named in `keys` (and no
  // "stream"), without building it.
  size_t BodyBytes(std::initializer_list<std::string_view> keys) const;
};

// `value` as the Messages API client sends it: compact, UTF-8 as is, invalid UTF-8 (from
// a tool's output, say) replaced by U+FFFD instead of throwing.
std::string SerializeJson(const nlohmann::json& value);

// Whether /v1/messages/count_tokens accepts a request member named `key`.
bool CountTokensAccepts(std::string_view key);

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_SERIALIZED_REQUEST_H_
