// Newline framing of MCP's stdio transport: messages are UTF-8 JSON, one per line.
// Pure (no process, no fd), so it is tested and fuzzed (tests/fuzz/json_rpc_fuzz.cc)
// on plain bytes.
#ifndef BATON_MCP_BRIDGE_LINE_FRAMER_H_
#define BATON_MCP_BRIDGE_LINE_FRAMER_H_

#include <cstddef>
#include <functional>
#include <string>
#include <string_view>

namespace baton::mcp {

// Splits a byte stream, arriving in chunks split anywhere, into lines. A line ends at
// '\n'; a '\r' before it is dropped; empty lines are skipped. A line longer than
// `max_line_bytes` is dropped instead of buffered, up to its '\n'.
// Not thread-safe: one framer per stream.
class LineFramer {
 public:
  using LineFn = std::function<void(std::string_view line)>;

  explicit LineFramer(size_t max_line_bytes) : max_line_bytes_(max_line_bytes) {}
  LineFramer(const LineFramer&) = delete;
  LineFramer& operator=(const LineFramer&) = delete;

  // Calls `on_line` for each line `chunk` completes, in order. Returns how many lines
  // began to be dropped for their length during this call (for the caller's log).
  int Feed(std::string_view chunk, const LineFn& on_line);

  // Bytes of the unterminated line held (0 while dropping one).
  size_t buffered() const { return buffer_.size(); }

 private:
  const size_t max_line_bytes_;
  std::string buffer_;
  bool dropping_line_ = false;
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_LINE_FRAMER_H_
