// What a server (or anything between it and the worker) sends the Messages API client:
// bytes → Http1ResponseParser. Properties: no crash, no sanitizer report; the same head,
// body and outcome whether the bytes come at once or in 1–8 byte pieces; the body is
// never longer than the bytes that came; a response read whole was framed.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "tests/fuzz/fuzz_check.h"
#include "workers/model/http1_response.h"

namespace {

using baton::worker::HttpHeaders;
using baton::worker::Http1ResponseParser;

class Recorder final : public Http1ResponseParser::Handler {
 public:
  absl::Status OnHead(int status, HttpHeaders headers) override {
    FUZZ_CHECK(heads == 0);
    FUZZ_CHECK(status >= 200 && status <= 999);
    ++heads;
    this->status = status;
    this->headers = std::move(headers);
    return absl::OkStatus();
  }
  absl::Status OnBody(std::string_view bytes) override {
    FUZZ_CHECK(heads == 1);
    body.append(bytes);
    return absl::OkStatus();
  }

  int heads = 0;
  int status = 0;
  HttpHeaders headers;
  std::string body;
};

struct Outcome {
  bool fed_ok;
  bool complete;
  bool keep_alive;
  bool closed_ok;  // FinishAtClose after the bytes
};

Outcome Parse(std::string_view bytes, size_t piece, Recorder& recorder) {
  Http1ResponseParser parser(recorder);
  Outcome outcome{true, false, false, false};
  for (size_t at = 0; at < bytes.size() && outcome.fed_ok; at += piece) {
    outcome.fed_ok = parser.Feed(bytes.substr(at, piece)).ok();
  }
  outcome.complete = parser.complete();
  outcome.keep_alive = parser.keep_alive();
  if (outcome.fed_ok) {
    outcome.closed_ok = parser.FinishAtClose().ok();
    FUZZ_CHECK(outcome.closed_ok == parser.complete());
  }
  FUZZ_CHECK(parser.status() == recorder.status);
  return outcome;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view bytes(reinterpret_cast<const char*>(data), size);
  Recorder whole;
  const Outcome a = Parse(bytes, bytes.size() == 0 ? 1 : bytes.size(), whole);
  Recorder pieces;
  const Outcome b = Parse(bytes, size == 0 ? 1 : 1 + (data[0] & 7), pieces);

  FUZZ_CHECK(a.fed_ok == b.fed_ok);
  FUZZ_CHECK(a.complete == b.complete);
  FUZZ_CHECK(a.keep_alive == b.keep_alive);
  FUZZ_CHECK(a.closed_ok == b.closed_ok);
  FUZZ_CHECK(whole.heads == pieces.heads && whole.status == pieces.status);
  FUZZ_CHECK(whole.headers == pieces.headers);
  FUZZ_CHECK(whole.body == pieces.body);
  FUZZ_CHECK(whole.body.size() <= size);
  if (a.complete) FUZZ_CHECK(whole.heads == 1);
  return 0;
}
