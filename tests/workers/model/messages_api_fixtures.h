// What the Messages API client's tests share: a request, the answers they script, and
// what a test server keeps of a request it read.
#ifndef BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_
#define BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"

namespace baton::worker::api_test {

// A request as a test server read it.
struct Request {
  std::string request_line;
  std::map<std::string, std::string> headers;  // lower-cased names
  std::string body;
};

inline nlohmann::json Request1() {
  return {{"model", "claude-sonnet-4-5"},
          {"max_tokens", 1024},
          {"messages", {{{"role", "user"}, {"content", "Hello"}}}}};
}

// A whole non-streamed answer: one text block.
inline nlohmann::json TextMessage(const std::string& text) {
  return {{"id", "msg_json"},
          {"type", "message"},
          {"role", "assistant"},
          {"model", "claude-sonnet-4-5"},
          {"content", {{{"type", "text"}, {"text", text}}}},
          {"stop_reason", "end_turn"},
          {"stop_sequence", nullptr},
          {"usage", {{"input_tokens", 12}, {"output_tokens", 3}}}};
}

// One server-sent event, named by its data's `type`.
inline std::string SseEventText(const nlohmann::json& data) {
  return absl::StrCat("event: ", data["type"].get<std::string>(), "\ndata: ", data.dump(), "\n\n");
}

}  // namespace baton::worker::api_test

#endif  // BATON_TESTS_WORKERS_MODEL_MESSAGES_API_FIXTURES_H_
