// Scripted replies: what tests queue through POST /_sim/script or --script.
// The format is documented in docs/model-sim.md; tests in other folders rely on it.
#ifndef BATON_WORKERS_MODEL_SIM_SCRIPT_H_
#define BATON_WORKERS_MODEL_SIM_SCRIPT_H_

#include <cstddef>
#include <deque>
#include <optional>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "absl/strings/string_view.h"
#include "workers/model_sim/http_message.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

struct ScriptedReply {
  enum class Kind {
    kMessage,      // 200 with a message (JSON or SSE, as the request asks)
    kError,        // an HTTP error status with an API error body
    kStreamError,  // a 200 SSE stream cut by `event: error` after `after_events` events
  };
  Kind kind = Kind::kMessage;

  // Fits only requests whose raw body contains this substring. Default: "" (any).
  std::string match;
  // How many requests this reply answers. Default: 1.
  int repeat = 1;
  // Waited before the reply is sent. Default: 0.
  int delay_ms = 0;
  // Waited between two SSE events of a streamed reply. Default: 0.
  int event_delay_ms = 0;
  // Extra response headers (e.g. retry-after), any kind. Default: none.
  HttpHeaders headers;

  // kMessage (also the partial stream of kStreamError).
  std::optional<Json> content;              // nullopt: the default agent's content
  std::optional<std::string> stop_reason;   // nullopt: tool_use if content has one, else end_turn
  Json stop_sequence = nullptr;
  Json usage = Json::object();              // merged over the computed usage
  std::optional<std::string> model;         // nullopt: the request's model

  // kError and kStreamError.
  int status = 0;
  std::string error_type;
  std::string error_message;
  // kError: sent verbatim instead of the JSON error body (e.g. a proxy's HTML page),
  // as text/plain unless `headers` set content-type. Default: nullopt.
  std::optional<std::string> raw_body;

  // kStreamError: SSE events sent before the error event. Default: 0.
  int after_events = 0;
};

// Parses {"replies":[...]}. Errors name the offending field ("replies.2.status: ...").
absl::StatusOr<std::vector<ScriptedReply>> ParseScript(const Json& script);
// Parses one reply object; `at` prefixes error messages.
absl::StatusOr<ScriptedReply> ParseScriptedReply(const Json& reply, const std::string& at);

// FIFO of scripted replies. Not thread-safe; the simulator guards it.
class ReplyQueue {
 public:
  void Append(std::vector<ScriptedReply> replies);
  // Consumes one use of the first queued reply whose `match` fits `raw_body`.
  std::optional<ScriptedReply> Take(absl::string_view raw_body);
  // Remaining uses over every queued reply.
  size_t pending() const;
  void Clear() { replies_.clear(); }

 private:
  std::deque<ScriptedReply> replies_;
};

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_SCRIPT_H_
