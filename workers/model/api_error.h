// Errors of the Messages API, and how they become absl::Status.
// Pure: no curl. Shared by the streaming assembler and the HTTP client.
#ifndef BATON_WORKERS_MODEL_API_ERROR_H_
#define BATON_WORKERS_MODEL_API_ERROR_H_

#include <string>
#include <string_view>

#include "absl/status/status.h"

namespace baton::worker {

// One error reported by the API, either as an HTTP error response
// {"type":"error","error":{"type":…,"message":…},"request_id":…} or as an `error` event
// inside a streamed 200 response.
struct ApiError {
  int http_status = 0;     // 0 for an `error` event inside a stream
  std::string type;        // e.g. "overloaded_error"; empty when the body had none
  std::string message;     // the API's own message, or the start of a non-JSON body
  std::string request_id;  // the request-id header (or the body's request_id)

  // The status the ModelClient contract documents, with a message such as
  //   Messages API 400 invalid_request_error: max_tokens: Field required (request-id req_1)
  //   Messages API stream error overloaded_error: Overloaded (request-id req_1)
  absl::Status ToStatus() const;
};

// Statuses made by ApiError::ToStatus() carry the API's error type ("overloaded_error"…)
// as a payload under this URL, so that a caller can tell an overloaded model (switch to
// a fallback) from other kUnavailable failures.
inline constexpr char kApiErrorTypePayloadUrl[] = "type.baton.dev/messages-api/error-type";

// The API error type a status carries, or "" when it carries none.
std::string ApiErrorTypeOf(const absl::Status& status);

// Parses an error response body. `request_id` (the header) wins over the body's field.
// Never fails: a body that is not the API's JSON gives its first bytes as the message.
ApiError ParseApiErrorBody(int http_status, std::string_view body,
                           std::string_view request_id);

// 400/413/other 4xx → kInvalidArgument, 401 → kUnauthenticated, 403 → kPermissionDenied,
// 404 → kNotFound, 408/409/5xx → kUnavailable, 429 → kResourceExhausted,
// anything else (a 3xx the client does not follow, say) → kUnknown.
absl::StatusCode StatusCodeForHttpStatus(int http_status);

// The same table keyed by the API's error type, for errors that arrive mid-stream:
// overloaded_error/api_error/timeout_error → kUnavailable, rate_limit_error →
// kResourceExhausted, invalid_request_error/request_too_large → kInvalidArgument,
// authentication_error → kUnauthenticated, permission_error → kPermissionDenied,
// not_found_error → kNotFound, unknown types → kUnknown.
absl::StatusCode StatusCodeForErrorType(std::string_view type);

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_API_ERROR_H_
