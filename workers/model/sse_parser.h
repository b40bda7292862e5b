// An incremental parser for Server-Sent Events (the `text/event-stream` format of the
// WHATWG HTML standard, section 9.2 "Server-sent events").
//
// Bytes arrive in arbitrary chunks (a curl write callback, a socket read); complete
// events come out as soon as their terminating blank line has arrived. Used by the
// Messages API client and by MCP's Streamable HTTP transport, so it knows nothing
// about either protocol. Pure: no I/O, no curl.
#ifndef BATON_WORKERS_MODEL_SSE_PARSER_H_
#define BATON_WORKERS_MODEL_SSE_PARSER_H_

#include <cstddef>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "absl/status/status.h"

namespace baton::worker {

struct SseEvent {
  // The `event:` field; "message" when the event has none, as the standard says.
  std::string event = "message";
  // The `data:` lines joined with '\n' (no trailing newline).
  std::string data;
  // The last event ID seen on the stream so far (`id:` persists across events, so a
  // reconnecting client can send it as Last-Event-ID). Empty when none.
  std::string id;
  // The `retry:` field (reconnection time in milliseconds) when this event carried one.
  std::optional<int64_t> retry;

  bool operator==(const SseEvent&) const = default;
};

// Not thread-safe: one parser per stream.
class SseParser {
 public:
  // A line or an event's data longer than this makes Feed() fail, so a broken or
  // hostile server cannot grow the buffers without bound. Default: 64 MiB.
  static constexpr size_t kDefaultMaxEventBytes = size_t{64} << 20;

  explicit SseParser(size_t max_event_bytes = kDefaultMaxEventBytes)
      : max_event_bytes_(max_event_bytes) {}

  SseParser(const SseParser&) = delete;
  SseParser& operator=(const SseParser&) = delete;

  // Consumes the next chunk of the stream and appends every event it completes to
  // `*events`. Lines may end in "\n", "\r\n" or "\r", split anywhere across chunks; a
  // leading UTF-8 BOM is skipped; lines starting with ':' are comments; a blank line
  // dispatches the event unless it has no data (then the event is dropped, as the
  // standard says). Returns kResourceExhausted when a line or event exceeds the limit;
  // the parser is then unusable until Reset().
  absl::Status Feed(std::string_view chunk, std::vector<SseEvent>* events);

  // True when bytes of an event that has not been dispatched yet are buffered. At the
  // end of a stream such an event is incomplete and is discarded (the standard's rule);
  // callers may use this to notice a truncated stream.
  bool HasPartialEvent() const;

  // The reconnection time from the most recent `retry:` field, if any.
  std::optional<int64_t> reconnection_time_ms() const { return reconnection_time_ms_; }
  // The last event ID (see SseEvent::id).
  const std::string& last_event_id() const { return last_event_id_; }

  // Forgets everything, including the last event ID, as for a new stream.
  void Reset();

 private:
  absl::Status Consume(std::string_view chunk, std::vector<SseEvent>* events);
  absl::Status ProcessLine(std::string_view line, std::vector<SseEvent>* events);
  void Dispatch(std::vector<SseEvent>* events);

  const size_t max_event_bytes_;

  // Bytes of the current line not yet terminated.
  std::string line_;
  // The previous chunk ended in '\r': a '\n' opening the next chunk belongs to it.
  bool skip_lf_ = false;
  // The start of the stream has been seen (the BOM check is done).
  bool started_ = false;
  // The BOM check saw a proper prefix of the BOM and is waiting for more bytes.
  std::string bom_prefix_;
  bool failed_ = false;

  // The event being built.
  std::string event_type_;
  std::string data_;  // every data line followed by '\n', as the standard builds it
  std::optional<int64_t> event_retry_;

  std::string last_event_id_;
  std::optional<int64_t> reconnection_time_ms_;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_SSE_PARSER_H_
