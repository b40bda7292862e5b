// Builds the final Messages API message from the events of a streamed response.
// Pure: no curl, no I/O.
#ifndef BATON_WORKERS_MODEL_MESSAGE_ASSEMBLER_H_
#define BATON_WORKERS_MODEL_MESSAGE_ASSEMBLER_H_

#include <functional>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "absl/status/statusor.h"
#include "workers/model/api_error.h"

namespace baton::worker {

// Feed it the events of one streamed response in order; Finish() returns the message
// in the same shape as a non-streaming response:
//   {id, type, role, model, content[], stop_reason, stop_sequence, usage{...}}.
//
//   message_start        the message skeleton and its first usage
//   content_block_start  content[index] = content_block
//   content_block_delta  text_delta → text (and on_text), input_json_delta → buffered
//                        partial_json, thinking_delta → thinking, signature_delta →
//                        signature, citations_delta → citations[]; others ignored
//   content_block_stop   the buffered partial_json parsed into input ("" → {})
//   message_delta        delta fields (stop_reason, stop_sequence…) copied; usage is
//                        cumulative: each non-null field overwrites, never adds
//   message_stop         the message is complete
//   ping, unknown types  ignored
//   error                OnEvent returns the API error as a status (see ApiError)
//
// Not thread-safe: one assembler per response. on_text runs inside OnEvent.
class MessageAssembler {
 public:
  using TextCallback = std::function<void(int block_index, const std::string& text)>;

  explicit MessageAssembler(TextCallback on_text = nullptr);

  MessageAssembler(const MessageAssembler&) = delete;
  MessageAssembler& operator=(const MessageAssembler&) = delete;

  // Consumes one event. `event_type` is the SSE event name; when it is empty or the SSE
  // default "message", the data's "type" field names the event instead. Returns the API
  // error for an `error` event (also kept in error()), kInternal for a malformed stream
  // (bad JSON, a block index out of order, a delta before message_start). After a
  // non-OK return the assembler must not be fed again.
  absl::Status OnEvent(std::string_view event_type, std::string_view data);

  // True once message_stop has arrived.
  bool done() const { return done_; }

  // The error event seen, if any.
  const std::optional<ApiError>& error() const { return error_; }

  // The assembled message. Fails with the stream's error if there was one, and with
  // kUnavailable if the stream ended before message_stop (a truncated stream is worth
  // retrying). A tool input that is not valid JSON is an error (kInternal) unless the
  // message stopped for max_tokens, where the API cuts the input off mid-way; its input
  // is then {}.
  absl::StatusOr<nlohmann::json> Finish();

 private:
  absl::Status OnMessageStart(const nlohmann::json& data);
  absl::Status OnBlockStart(const nlohmann::json& data);
  absl::Status OnBlockDelta(const nlohmann::json& data);
  absl::Status OnBlockStop(const nlohmann::json& data);
  absl::Status OnMessageDelta(const nlohmann::json& data);
  absl::Status OnError(const nlohmann::json& data);
  // The block `data["index"]` refers to, or an error.
  absl::StatusOr<size_t> BlockIndex(const nlohmann::json& data) const;

  TextCallback on_text_;
  nlohmann::json message_;
  bool started_ = false;
  bool done_ = false;
  std::optional<ApiError> error_;
  // Per content block: the concatenated partial_json, and whether any arrived.
  std::vector<std::string> partial_json_;
  std::vector<bool> has_partial_json_;
  // Blocks whose input did not parse (reported by Finish unless stop_reason is max_tokens).
  std::vector<size_t> invalid_input_blocks_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_MESSAGE_ASSEMBLER_H_
