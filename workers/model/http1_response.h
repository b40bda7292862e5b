// An incremental reader of one HTTP/1.1 response (RFC 9112), for the Messages API
// client: it writes its requests itself over a connection libcurl opened (TCP, TLS and
// any proxy are libcurl's), and reads the answer with this.
//
// Bytes arrive in arbitrary pieces. The status line and headers come out once the head
// is whole; the body's bytes come out as they arrive, framed by Content-Length, by the
// chunked transfer coding, or by the connection's close. Interim 1xx responses are
// skipped. Pure: no I/O, no curl.
#ifndef BATON_WORKERS_MODEL_HTTP1_RESPONSE_H_
#define BATON_WORKERS_MODEL_HTTP1_RESPONSE_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "absl/status/status.h"
#include "workers/model/retry_policy.h"

namespace baton::worker {

// Not thread-safe: one parser per response.
class Http1ResponseParser {
 public:
  // What the parser hands on. An error it returns stops the parse, and Feed returns it
  // unchanged.
  class Handler {
   public:
    virtual ~Handler() = default;
    // The final response's status and headers (names lower-cased, values trimmed; of a
    // repeated header the last value), before any of its body.
    virtual absl::Status OnHead(int status, HttpHeaders headers) = 0;
    // The body's next bytes, in order, transfer coding removed.
    virtual absl::Status OnBody(std::string_view bytes) = 0;
  };

  // A head (status line and headers) or a chunk's size line longer than this is an
  // error, so a broken or hostile server cannot grow the buffers without bound.
  static constexpr size_t kMaxHeadBytes = 64 * 1024;

  explicit Http1ResponseParser(Handler& handler) : handler_(handler) {}

  Http1ResponseParser(const Http1ResponseParser&) = delete;
  Http1ResponseParser& operator=(const Http1ResponseParser&) = delete;

  // Reads the connection's next bytes. An error names what is malformed, or is the
  // handler's. Bytes after the response's end are dropped and make keep_alive() false.
  absl::Status Feed(std::string_view bytes);

  // The peer closed the connection: ends a body read to the close. An error when the
  // response was cut short, saying where.
  absl::Status FinishAtClose();

  // The whole response has been read.
  bool complete() const { return state_ == State::kComplete; }
  // Some byte of the response arrived (a reused connection that fails before any did
  // may be retried on a new one).
  bool started() const { return started_; }
  // The final status; 0 until its head is whole.
  int status() const { return head_done_ ? status_ : 0; }
  // Once complete(): whether the connection may carry another request (HTTP/1.1, no
  // `Connection: close`, a body framed by length or chunks, nothing after it).
  bool keep_alive() const { return complete() && keep_alive_; }

 private:
  enum class State {
    kStatusLine,
    kHeaders,
    kBodyLength,      // remaining_ bytes to go
    kChunkSize,
    kChunkData,       // remaining_ bytes of this chunk to go
    kChunkDataEnd,    // the CRLF after a chunk's data
    kTrailers,
    kBodyUntilClose,
    kComplete,
  };

  absl::Status OnLine(std::string_view line);
  absl::Status OnStatusLine(std::string_view line);
  absl::Status OnHeaderLine(std::string_view line);
  absl::Status OnHeadEnd();
  absl::Status OnChunkSizeLine(std::string_view line);

  Handler& handler_;
  State state_ = State::kStatusLine;
  bool started_ = false;
  std::string line_;        // a line of the head or a chunk's size, until its '\n'
  size_t head_bytes_ = 0;   // of the current head, against kMaxHeadBytes
  uint64_t remaining_ = 0;  // kBodyLength, kChunkData

  // The head being read (of an interim response, then of the final one).
  int status_ = 0;
  int minor_version_ = 1;
  HttpHeaders headers_;
  bool connection_close_ = false;
  bool has_content_length_ = false;
  uint64_t content_length_ = 0;
  std::string transfer_encoding_;  // its values, joined with ", "
  bool head_done_ = false;
  bool keep_alive_ = false;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_HTTP1_RESPONSE_H_
