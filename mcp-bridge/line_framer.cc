#include "mcp-bridge/line_framer.h"

namespace baton::mcp {

int LineFramer::Feed(std::string_view chunk, const LineFn& on_line) {
  int dropped = 0;
  size_t start = 0;
  for (size_t i = 0; i < chunk.size(); ++i) {
    if (chunk[i] != '\n') continue;
    if (!dropping_line_) {
      buffer_.append(chunk.data() + start, i - start);
      std::string_view line(buffer_);
      if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
      if (!line.empty()) on_line(line);
    }
    buffer_.clear();
    dropping_line_ = false;
    start = i + 1;
  }
  if (!dropping_line_) {
    buffer_.append(chunk.data() + start, chunk.size() - start);
    if (buffer_.size() > max_line_bytes_) {
      buffer_.clear();
      dropping_line_ = true;
      ++dropped;
    }
  }
  return dropped;
}

}  // namespace baton::mcp
