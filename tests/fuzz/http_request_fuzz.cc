// Bytes a client sends the model simulator, as its HTTP server frames them
// (ParseHttpRequest: request line, headers, Content-Length body, pipelined requests).
// Properties: no crash, no sanitizer report; a complete request consumes bytes within
// the buffer; the same bytes less the last are incomplete, not an error nor another
// request (the server parses again after each read).
#include <cstddef>
#include <cstdint>

#include "absl/strings/string_view.h"
#include "tests/fuzz/fuzz_check.h"
#include "workers/model_sim/http_request_parser.h"

namespace {

using baton::model_sim::HttpRequestParse;
using baton::model_sim::ParseHttpRequest;

constexpr size_t kMaxBodyBytes = 4096;

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  absl::string_view buffer(reinterpret_cast<const char*>(data), size);
  for (int requests = 0; requests < 64; ++requests) {
    HttpRequestParse parse = ParseHttpRequest(buffer, kMaxBodyBytes);
    if (parse.state == HttpRequestParse::State::kError) {
      FUZZ_CHECK(parse.error_status >= 400 && parse.error_status < 500);
      return 0;
    }
    if (parse.state == HttpRequestParse::State::kNeedMore) return 0;
    FUZZ_CHECK(parse.consumed > 0 && parse.consumed <= buffer.size());
    FUZZ_CHECK(parse.request.body.size() <= kMaxBodyBytes);
    FUZZ_CHECK(!parse.request.method.empty());
    (void)parse.request.Header("content-type");
    const HttpRequestParse shorter = ParseHttpRequest(buffer.substr(0, parse.consumed - 1), kMaxBodyBytes);
    FUZZ_CHECK(shorter.state == HttpRequestParse::State::kNeedMore);
    buffer.remove_prefix(parse.consumed);
  }
  return 0;
}
