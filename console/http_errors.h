// Errors as the console's HTTP API gives them: the HTTP status of the gRPC code and a
// JSON body {"error": {"code": 404, "status": "NOT_FOUND", "message": "..."}}.
#ifndef BATON_CONSOLE_HTTP_ERRORS_H_
#define BATON_CONSOLE_HTTP_ERRORS_H_

#include <string>

#include "absl/status/status.h"
#include "console/http.h"

namespace baton::console {

// INVALID_ARGUMENT, FAILED_PRECONDITION, OUT_OF_RANGE 400; UNAUTHENTICATED 401;
// PERMISSION_DENIED 403; NOT_FOUND 404; ALREADY_EXISTS, ABORTED 409;
// RESOURCE_EXHAUSTED 429; CANCELLED 499; UNIMPLEMENTED 501; UNAVAILABLE 503;
// DEADLINE_EXCEEDED 504; anything else 500.
int HttpStatusOf(absl::StatusCode code);

// The error object without the HTTP framing: {"code":404,"status":"NOT_FOUND",
// "message":"..."}; `http_status` 0: HttpStatusOf. REQUIRES: !status.ok().
std::string ErrorObjectJson(const absl::Status& status, int http_status = 0);

// The whole response: status, JSON body, and Retry-After when the status carries a
// retry delay (RESOURCE_EXHAUSTED from a rate limit). `http_status` 0: HttpStatusOf;
// else it (405, 413, 415) is the response's and the body's code.
HttpResponse ErrorResponse(const absl::Status& status, int http_status = 0);

}  // namespace baton::console

#endif  // BATON_CONSOLE_HTTP_ERRORS_H_
