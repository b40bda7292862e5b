#include "workers/model_sim/http_request_parser.h"

#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_split.h"
#include "absl/strings/strip.h"

namespace baton::model_sim {
namespace {

// Parses the request line and headers of `head` (without the blank line).
bool ParseHead(absl::string_view head, HttpRequest& req) {
  size_t eol = head.find("\r\n");
  absl::string_view line = head.substr(0, eol);
  std::vector<absl::string_view> parts;
  for (size_t start = 0; start <= line.size();) {
    size_t sp = line.find(' ', start);
    if (sp == absl::string_view::npos) sp = line.size();
    parts.push_back(line.substr(start, sp - start));
    start = sp + 1;
  }
  if (parts.size() != 3 || parts[0].empty() || parts[1].empty() ||
      !absl::StartsWith(parts[2], "HTTP/1.")) {
    return false;
  }
  req.method = std::string(parts[0]);
  req.version = std::string(parts[2]);
  absl::string_view target = parts[1];
  if (size_t q = target.find('?'); q != absl::string_view::npos) {
    req.query = std::string(target.substr(q + 1));
    target = target.substr(0, q);
  }
  req.path = std::string(target);
  if (eol == absl::string_view::npos) return true;
  absl::string_view rest = head.substr(eol + 2);
  while (!rest.empty()) {
    size_t end = rest.find("\r\n");
    absl::string_view h = rest.substr(0, end);
    rest = end == absl::string_view::npos ? absl::string_view() : rest.substr(end + 2);
    if (h.empty()) continue;
    size_t colon = h.find(':');
    if (colon == absl::string_view::npos || colon == 0) return false;
    req.headers.emplace_back(absl::AsciiStrToLower(h.substr(0, colon)),
                             std::string(absl::StripAsciiWhitespace(h.substr(colon + 1))));
  }
  return true;
}

HttpRequestParse Error(int status, std::string message) {
  HttpRequestParse out;
  out.state = HttpRequestParse::State::kError;
  out.error_status = status;
  out.error_message = std::move(message);
  return out;
}

}  // namespace

bool HeaderHasToken(const std::string* value, absl::string_view token) {
  if (value == nullptr) return false;
  for (absl::string_view part : absl::StrSplit(*value, ',')) {
    if (absl::EqualsIgnoreCase(absl::StripAsciiWhitespace(part), token)) return true;
  }
  return false;
}

HttpRequestParse ParseHttpRequest(absl::string_view buffer, size_t max_body_bytes) {
  const size_t head_end = buffer.find("\r\n\r\n");
  if (head_end == absl::string_view::npos) {
    if (buffer.size() > kMaxHttpHeaderBytes) return Error(431, "request headers too large");
    return HttpRequestParse{};
  }
  // The same limit whether the head arrived in one read or many.
  if (head_end > kMaxHttpHeaderBytes) return Error(431, "request headers too large");
  HttpRequestParse out;
  HttpRequest& req = out.request;
  if (!ParseHead(buffer.substr(0, head_end), req)) return Error(400, "malformed HTTP request");
  if (req.Header("transfer-encoding") != nullptr) {
    return Error(411, "chunked request bodies are not supported; send Content-Length");
  }
  size_t length = 0;
  if (const std::string* cl = req.Header("content-length");
      cl != nullptr && !absl::SimpleAtoi(*cl, &length)) {
    return Error(400, "bad Content-Length");
  }
  if (length > max_body_bytes) return Error(413, "request body too large");
  const size_t body_start = head_end + 4;
  if (buffer.size() - body_start < length) {
    out.expects_continue = HeaderHasToken(req.Header("expect"), "100-continue");
    out.request = HttpRequest{};
    return out;
  }
  req.body = std::string(buffer.substr(body_start, length));
  out.consumed = body_start + length;
  out.state = HttpRequestParse::State::kComplete;
  return out;
}

}  // namespace baton::model_sim
