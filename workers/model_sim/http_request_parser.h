// Framing and parsing of HTTP/1.1 requests as the simulator's server reads them: a
// request line, headers, a Content-Length body. Pure (no sockets), so it is tested and
// fuzzed (tests/fuzz/http_request_fuzz.cc) on plain bytes.
#ifndef BATON_WORKERS_MODEL_SIM_HTTP_REQUEST_PARSER_H_
#define BATON_WORKERS_MODEL_SIM_HTTP_REQUEST_PARSER_H_

#include <cstddef>
#include <string>

#include "absl/strings/string_view.h"
#include "workers/model_sim/http_message.h"

namespace baton::model_sim {

// Request heads (request line and headers) longer than this are refused with 431.
inline constexpr size_t kMaxHttpHeaderBytes = 64 * 1024;

// What the bytes received so far on a connection hold.
struct HttpRequestParse {
  enum class State {
    kNeedMore,  // read more bytes and parse again
    kComplete,  // `request` is the first request of the buffer
    kError,     // answer `error_status` with `error_message` and close
  };
  State state = State::kNeedMore;
  // kComplete: the request, body included.
  HttpRequest request;
  // kComplete: the bytes of the buffer the request took (the rest is the next request).
  size_t consumed = 0;
  // kNeedMore: the head is complete, the body is not, and the client waits for
  // "100 Continue" before sending it (Expect: 100-continue).
  bool expects_continue = false;
  int error_status = 0;
  std::string error_message;
};

// Parses the first request of `buffer`. Refuses a malformed request line or header
// (400), a bad Content-Length (400), a Transfer-Encoding (411: chunked request bodies
// are not supported), a body over `max_body_bytes` (413) and a head over
// kMaxHttpHeaderBytes (431). Header names come out lower-cased, values trimmed.
HttpRequestParse ParseHttpRequest(absl::string_view buffer, size_t max_body_bytes);

// Whether the comma-separated header `value` (may be null) holds `token`, ignoring case.
bool HeaderHasToken(const std::string* value, absl::string_view token);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_HTTP_REQUEST_PARSER_H_
