// Plain HTTP request/response values shared by HttpServer (sockets) and the
// simulator logic (no sockets), so the logic is tested by calling it directly.
#ifndef BATON_WORKERS_MODEL_SIM_HTTP_MESSAGE_H_
#define BATON_WORKERS_MODEL_SIM_HTTP_MESSAGE_H_

#include <string>
#include <utility>
#include <vector>

#include "absl/strings/string_view.h"
#include "absl/time/time.h"

namespace baton::model_sim {

using HttpHeaders = std::vector<std::pair<std::string, std::string>>;

struct HttpRequest {
  std::string method;   // "GET", "POST", ...
  std::string path;     // the target without the query, e.g. "/v1/messages"
  std::string query;    // after '?', without it; empty when none
  std::string version;  // "HTTP/1.1"
  HttpHeaders headers;  // names lower-cased, in arrival order
  std::string body;

  // The first header named `name` (lower-case), or nullptr.
  const std::string* Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

// A response is either one body (sent with Content-Length) or, when `streamed`,
// a sequence of parts written and flushed one by one (chunked transfer encoding),
// e.g. Server-Sent Events.
struct HttpResponse {
  int status = 200;
  HttpHeaders headers;  // Content-Length / Transfer-Encoding / Connection are added by the server
  std::string body;
  bool streamed = false;
  std::vector<std::string> parts;
  // Waited before the status line is written. Default: none.
  absl::Duration delay = absl::ZeroDuration();
  // Waited between two streamed parts. Default: none.
  absl::Duration part_interval = absl::ZeroDuration();

  void SetHeader(std::string name, std::string value) {
    for (auto& [k, v] : headers) {
      if (k == name) {
        v = std::move(value);
        return;
      }
    }
    headers.emplace_back(std::move(name), std::move(value));
  }
  const std::string* Header(absl::string_view name) const {
    for (const auto& [k, v] : headers) {
      if (k == name) return &v;
    }
    return nullptr;
  }
};

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_HTTP_MESSAGE_H_
