// The Messages API stream as the model client reads it: bytes → SseParser → events →
// MessageAssembler → the final message. Properties: no crash, no sanitizer report; the
// events do not depend on how the bytes were split into chunks; the assembled message
// serialises (the agent loop journals it).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "tests/fuzz/fuzz_check.h"
#include "workers/model/message_assembler.h"
#include "workers/model/sse_parser.h"

namespace {

using baton::worker::MessageAssembler;
using baton::worker::SseEvent;
using baton::worker::SseParser;

// Small enough that the line and event limits are reached by the fuzzer.
constexpr size_t kMaxEventBytes = 16 * 1024;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view stream(reinterpret_cast<const char*>(data), size);

  SseParser whole(kMaxEventBytes);
  std::vector<SseEvent> events;
  const bool whole_ok = whole.Feed(stream, &events).ok();

  // The same bytes in small chunks (1 to 8 bytes, picked by the input) must give the
  // same events: a CRLF or the BOM split across reads is the classic framing bug.
  SseParser chunked(kMaxEventBytes);
  std::vector<SseEvent> chunked_events;
  const size_t step = size == 0 ? 1 : 1 + (data[0] & 7);
  bool chunked_ok = true;
  for (size_t at = 0; at < size && chunked_ok; at += step) {
    chunked_ok = chunked.Feed(stream.substr(at, step), &chunked_events).ok();
  }
  if (whole_ok && chunked_ok) {
    FUZZ_CHECK(events == chunked_events);
    FUZZ_CHECK(whole.HasPartialEvent() == chunked.HasPartialEvent());
    FUZZ_CHECK(whole.last_event_id() == chunked.last_event_id());
  }

  size_t text_bytes = 0;
  MessageAssembler assembler([&](int, const std::string& text) { text_bytes += text.size(); });
  for (const SseEvent& event : events) {
    if (!assembler.OnEvent(event.event, event.data).ok()) return 0;
  }
  absl::StatusOr<nlohmann::json> message = assembler.Finish();
  if (message.ok()) (void)message->dump();
  return 0;
}
