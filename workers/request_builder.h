// The Messages API request of each step, from the conversation's bytes kept between
// steps. Pure.
#ifndef BATON_WORKERS_REQUEST_BUILDER_H_
#define BATON_WORKERS_REQUEST_BUILDER_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "workers/model/serialized_request.h"

namespace baton::worker {

// What every request of a run carries besides its messages and model.
struct RequestParts {
  int64_t max_tokens = 0;
  std::string system;                                   // Default: "" (none sent)
  nlohmann::json tools = nlohmann::json::array();       // Default: none sent
  nlohmann::json temperature;                           // Default: null (none sent)
  bool prompt_caching = true;                           // Default: breakpoints placed
  std::string cache_ttl;                                // "1h", else 5 minutes
  bool stream = true;  // Default: streamed calls, which the request's `whole` is for
};

// The API refuses a final assistant turn (continued by the next answer) ending in
// whitespace: trims the last text block of `message` when it is an assistant turn
// (dropping it when nothing is left). The journal keeps the turn as it came. Returns
// whether it changed `message`.
// REQUIRES: `message` is the last of a request.
bool TrimFinalAssistantText(nlohmann::json& message);

// Builds each step's request with every message serialized once, when it stops being
// the last one: a step serializes only what it edits, so its work does not grow with
// the conversation (docs/PERFORMANCE.md). The edits are those of a request built as a
// JSON tree (all of `messages`, `parts`, then TrimFinalAssistantText on the last
// message and AddCacheBreakpoints, workers/prompt_cache.h), whose bytes the request
// spells exactly:
//   - the last message: trimmed, and with the breakpoint the next step reads from;
//   - the message that ended the previous step's request, with its breakpoint;
//   - the system prompt and the last tool, with theirs when fewer than 4 are placed;
//   - the model.
// The kept bytes are sent as they are (SerializedRequest borrows them): the builder
// lays the whole body out in one buffer (SerializedRequest::whole), the kept messages
// in place, and a step rewrites only what follows the last message it keeps unedited.
//
// Not thread-safe: one per run execution, on its thread.
class RequestBuilder {
 public:
  explicit RequestBuilder(const RequestParts& parts);
  RequestBuilder(const RequestBuilder&) = delete;
  RequestBuilder& operator=(const RequestBuilder&) = delete;

  // The request holding `messages`, for `model`. `previous_messages`: how many messages
  // the previous step's request held (0: none, or nothing cached to read). The result
  // borrows the builder's bytes: valid until the next Build, SetModel or Reset.
  // REQUIRES: `messages` is an array whose messages before the last are those of the
  // previous Build (or more appended after them), unless Reset() was called since; the
  // previous Build's last message changed only when `messages` holds no more than it
  // did (a continued turn), since its bytes are sent again as the previous step's.
  SerializedRequest Build(const nlohmann::json& messages, const std::string& model, size_t previous_messages);

  // Points `request` (from this builder's last Build) at another model.
  void SetModel(const std::string& model, SerializedRequest* request);

  // Forgets the kept messages: the conversation was replaced (compaction).
  void Reset();

  // Messages kept serialized (tests).
  size_t kept_messages() const { return ends_.size(); }

 private:
  static constexpr size_t kNone = static_cast<size_t>(-1);

  // Serializes messages[kept_messages(), count) onto the kept bytes.
  void Keep(const nlohmann::json& messages, size_t count);
  // Undoes the last Build's edits of body_: the head and the kept messages, as kept.
  void Restore();
  // Writes what follows the messages (the model and the members after it) and points
  // `request` at body_.
  void WriteTail(SerializedRequest* request);

  const bool caching_;
  const bool stream_;
  const nlohmann::json cc_;
  const int64_t max_tokens_;
  const std::string max_tokens_json_;
  const bool has_system_;
  const bool has_tools_;
  const bool has_temperature_;
  const std::string temperature_json_;
  // The system prompt and tools as sent, without [0] and with [1] a breakpoint (empty
  // when they cannot take one), and the breakpoints they hold already.
  std::string system_json_[2];
  std::string tools_json_[2];
  int fixed_breakpoints_ = 0;

  // The body: `{"max_tokens":N,"messages":[`, the kept messages joined by commas
  // (message i ends at ends_[i]), then the last Build's edits: from spliced_at_ (the
  // start of the kept message sent with a breakpoint; kNone: none) its bytes and the
  // messages after it as sent, the last message and `]` (ending at messages_end_), then
  // the tail WriteTail writes. spliced_ holds the kept bytes from spliced_at_ on, which
  // Restore puts back: what a step rewrites starts at the previous request's last
  // message, never before it.
  std::string body_;
  size_t messages_begin_ = 0;  // the `[`
  std::vector<size_t> ends_;
  int kept_breakpoints_ = 0;  // cache_control fields among the kept messages' blocks
  size_t spliced_at_ = kNone;
  std::string spliced_;
  size_t messages_end_ = 0;

  // The edits of the last Build, borrowed by its request.
  std::string model_json_;
  std::string last_json_;
  std::string previous_json_;
  bool mark_system_ = false;
  bool mark_tools_ = false;
  // How many messages the last Build held when last_json_ is its last message with a
  // breakpoint and nothing trimmed, else 0: the next Build, reading from there, sends
  // those bytes again as the previous step's message instead of marking it anew.
  size_t marked_last_ = 0;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_REQUEST_BUILDER_H_
