#include "console/http_errors.h"

#include <cmath>

#include <nlohmann/json.hpp>

#include "common/grpc_status.h"

namespace baton::console {

int HttpStatusOf(absl::StatusCode code) {
  switch (code) {
    case absl::StatusCode::kOk: return 200;
    case absl::StatusCode::kInvalidArgument:
    case absl::StatusCode::kFailedPrecondition:
    case absl::StatusCode::kOutOfRange: return 400;
    case absl::StatusCode::kUnauthenticated: return 401;
    case absl::StatusCode::kPermissionDenied: return 403;
    case absl::StatusCode::kNotFound: return 404;
    case absl::StatusCode::kAlreadyExists:
    case absl::StatusCode::kAborted: return 409;
    case absl::StatusCode::kResourceExhausted: return 429;
    case absl::StatusCode::kCancelled: return 499;
    case absl::StatusCode::kUnimplemented: return 501;
    case absl::StatusCode::kUnavailable: return 503;
    case absl::StatusCode::kDeadlineExceeded: return 504;
    default: return 500;
  }
}

std::string ErrorObjectJson(const absl::Status& status, int http_status) {
  nlohmann::json error = {{"code", http_status != 0 ? http_status : HttpStatusOf(status.code())},
                          {"status", absl::StatusCodeToString(status.code())},
                          {"message", std::string(status.message())}};
  // Invalid UTF-8 in a message (echoed input) is replaced, never a throw.
  return error.dump(-1, ' ', false, nlohmann::json::error_handler_t::replace);
}

HttpResponse ErrorResponse(const absl::Status& status, int http_status) {
  HttpResponse response;
  response.status = http_status != 0 ? http_status : HttpStatusOf(status.code());
  response.headers.emplace_back("Content-Type", "application/json");
  if (std::optional<absl::Duration> delay = RetryDelay(status); delay.has_value()) {
    response.headers.emplace_back("Retry-After",
                                  std::to_string(static_cast<int64_t>(std::ceil(absl::ToDoubleSeconds(*delay)))));
  }
  response.body = "{\"error\":" + ErrorObjectJson(status, response.status) + "}";
  return response;
}

}  // namespace baton::console
