#include "workers/model/api_error.h"

#include <nlohmann/json.hpp>

#include "absl/strings/cord.h"

#include "absl/strings/ascii.h"
#include "absl/strings/str_cat.h"

namespace baton::worker {
namespace {

using nlohmann::json;

// How much of a non-JSON error body (an HTML page from a proxy, say) goes into a status.
constexpr size_t kMaxBodySnippet = 300;

std::string StringField(const json& object, const char* key) {
  if (!object.is_object()) return "";
  auto it = object.find(key);
  if (it == object.end() || !it->is_string()) return "";
  return it->get<std::string>();
}

}  // namespace

absl::Status ApiError::ToStatus() const {
  const absl::StatusCode code =
      http_status != 0 ? StatusCodeForHttpStatus(http_status) : StatusCodeForErrorType(type);
  std::string text = http_status != 0 ? absl::StrCat("Messages API ", http_status)
                                      : std::string("Messages API stream error");
  if (!type.empty()) absl::StrAppend(&text, " ", type);
  if (!message.empty()) absl::StrAppend(&text, ": ", message);
  if (!request_id.empty()) absl::StrAppend(&text, " (request-id ", request_id, ")");
  absl::Status status(code, text);
  if (!type.empty()) status.SetPayload(kApiErrorTypePayloadUrl, absl::Cord(type));
  return status;
}

std::string ApiErrorTypeOf(const absl::Status& status) {
  // absl::optional, which Debian's Abseil does not alias to std::optional.
  auto payload = status.GetPayload(kApiErrorTypePayloadUrl);
  return payload.has_value() ? std::string(*payload) : std::string();
}

ApiError ParseApiErrorBody(int http_status, std::string_view body,
                           std::string_view request_id) {
  ApiError error;
  error.http_status = http_status;
  error.request_id = std::string(request_id);
  const json parsed = json::parse(body, nullptr, /*allow_exceptions=*/false);
  if (!parsed.is_discarded() && parsed.is_object() && parsed.contains("error")) {
    const json& inner = parsed["error"];
    error.type = StringField(inner, "type");
    error.message = StringField(inner, "message");
    if (error.request_id.empty()) error.request_id = StringField(parsed, "request_id");
    return error;
  }
  const absl::string_view snippet =
      absl::StripAsciiWhitespace(absl::string_view(body.data(), body.size()));
  if (snippet.size() > kMaxBodySnippet) {
    // Cut on a UTF-8 character boundary: the message may end up in JSON.
    size_t cut = kMaxBodySnippet;
    while (cut > 0 && (static_cast<unsigned char>(snippet[cut]) & 0xC0) == 0x80) --cut;
    error.message = absl::StrCat(snippet.substr(0, cut), "...");
  } else {
    error.message = std::string(snippet);
  }
  return error;
}

absl::StatusCode StatusCodeForHttpStatus(int http_status) {
  switch (http_status) {
    case 400:
    case 413:
      return absl::StatusCode::kInvalidArgument;
    case 401:
      return absl::StatusCode::kUnauthenticated;
    case 403:
      return absl::StatusCode::kPermissionDenied;
    case 404:
      return absl::StatusCode::kNotFound;
    case 408:
    case 409:
      return absl::StatusCode::kUnavailable;
    case 429:
      return absl::StatusCode::kResourceExhausted;
    default:
      break;
  }
  if (http_status >= 500 && http_status <= 599) return absl::StatusCode::kUnavailable;
  if (http_status >= 400 && http_status <= 499) return absl::StatusCode::kInvalidArgument;
  return absl::StatusCode::kUnknown;
}

absl::StatusCode StatusCodeForErrorType(std::string_view type) {
  if (type == "overloaded_error" || type == "api_error" || type == "timeout_error") {
    return absl::StatusCode::kUnavailable;
  }
  if (type == "rate_limit_error") return absl::StatusCode::kResourceExhausted;
  if (type == "invalid_request_error" || type == "request_too_large") {
    return absl::StatusCode::kInvalidArgument;
  }
  if (type == "authentication_error") return absl::StatusCode::kUnauthenticated;
  if (type == "permission_error") return absl::StatusCode::kPermissionDenied;
  if (type == "not_found_error") return absl::StatusCode::kNotFound;
  return absl::StatusCode::kUnknown;
}

}  // namespace baton::worker
