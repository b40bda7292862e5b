#include "workers/model_sim/simulator.h"

#include <cmath>
#include <exception>
#include <utility>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/time/clock.h"
#include "common/logging.h"
#include "workers/model_sim/default_agent.h"
#include "workers/model_sim/validation.h"

namespace baton::model_sim {
namespace {

// Bounds memory when a long benchmark never resets the simulator (and
// SimulatorOptions::request_log_bytes: ten thousand requests of a long conversation are
// hundreds of megabytes).
constexpr size_t kMaxLoggedRequests = 10000;

HttpResponse JsonResponse(int status, const Json& body, const std::string& request_id) {
  HttpResponse r;
  r.status = status;
  r.SetHeader("content-type", "application/json");
  if (!request_id.empty()) r.SetHeader("request-id", request_id);
  r.body = body.dump(-1, ' ', false, Json::error_handler_t::replace);
  return r;
}

HttpResponse ErrorResponse(const ApiError& e, const std::string& request_id) {
  return JsonResponse(e.status, ErrorBody(e.type, e.message, request_id), request_id);
}

bool IsSecretHeader(const std::string& name) {
  return name == "x-api-key" || name == "authorization" || name == "proxy-authorization";
}

Json ParseBody(const std::string& raw) { return Json::parse(raw, nullptr, false); }

}  // namespace

ModelSimulator::ModelSimulator(SimulatorOptions options)
    : options_(std::move(options)),
      id_seed_(static_cast<uint64_t>(absl::ToUnixNanos(absl::Now()))),
      message_cache_(options_.message_cache_bytes) {}

std::string ModelSimulator::NextRequestId() { return MakeId("req_", id_seed_, ++id_counter_); }

std::string ModelSimulator::NextMessageId() {
  return MakeId("msg_", id_seed_ ^ 0x6d7367ULL, ++id_counter_);
}

absl::Status ModelSimulator::AddScript(const Json& script) {
  auto replies = ParseScript(script);
  if (!replies.ok()) return replies.status();
  absl::MutexLock lock(&mu_);
  replies_.Append(*std::move(replies));
  return absl::OkStatus();
}

HttpResponse ModelSimulator::Handle(HttpRequest request) {
  // The border of the component: whatever went wrong inside becomes a 500, never a crash.
  try {
    return Route(request);
  } catch (const std::exception& e) {
    BATON_LOG(ERROR) << request.method << " " << request.path << " failed: " << e.what();
    return ErrorResponse(ApiError{500, "api_error", "Internal simulator error"}, NextRequestId());
  }
}

HttpResponse ModelSimulator::Route(HttpRequest& request) {
  const std::string& path = request.path;
  if (path == "/v1/messages" || path == "/v1/messages/count_tokens") {
    if (request.method != "POST") {
      return ErrorResponse(ApiError{405, "invalid_request_error",
                                    absl::StrCat("Method ", request.method, " not allowed on ", path)},
                           NextRequestId());
    }
    return path == "/v1/messages" ? HandleMessages(request) : HandleCountTokens(request);
  }
  if (absl::StartsWith(path, "/_sim/")) return HandleControl(request);
  return ErrorResponse(ApiError{404, "not_found_error", absl::StrCat("Not found: ", path)},
                       NextRequestId());
}

std::optional<ApiError> ModelSimulator::CheckHeaders(const HttpRequest& request) const {
  if (!options_.api_key.empty()) {
    const std::string* key = request.Header("x-api-key");
    const std::string* auth = request.Header("authorization");
    if (key == nullptr && auth == nullptr) {
      return ApiError{401, "authentication_error", "x-api-key header is required"};
    }
    const bool ok = (key != nullptr && *key == options_.api_key) ||
                    (auth != nullptr && *auth == absl::StrCat("Bearer ", options_.api_key));
    if (!ok) return ApiError{401, "authentication_error", "invalid x-api-key"};
  }
  const std::string* version = request.Header("anthropic-version");
  if (version == nullptr || version->empty()) {
    return ApiError{400, "invalid_request_error", "anthropic-version: header is required"};
  }
  return std::nullopt;
}

std::optional<ApiError> ModelSimulator::ReadBody(const HttpRequest& request, RequestKind kind,
                                                 std::optional<RequestView>& body) {
  if (std::optional<ApiError> error = CheckHeaders(request)) return error;
  // Outside mu_: parsing and checking the messages not seen before is the work here.
  body = ReadRequestBody(request.body, message_cache_);
  if (!body) return ApiError{400, "invalid_request_error", "The request body is not valid JSON"};
  return ValidateRequest(*body, kind);
}

void ModelSimulator::RecordLocked(HttpRequest& request, int status, const std::string& request_id) {
  ++message_requests_;
  ++by_status_[status];
  while (!request_log_.empty() && (request_log_.size() >= kMaxLoggedRequests ||
                                   request_log_bytes_ + request.body.size() > options_.request_log_bytes)) {
    request_log_bytes_ -= request_log_.front().body.size();
    request_log_.pop_front();
  }
  LoggedRequest entry;
  entry.method = request.method;
  entry.path = request.path;
  entry.headers = request.headers;
  for (auto& [name, value] : entry.headers) {
    if (IsSecretHeader(name)) value = "REDACTED";
  }
  // Moved, not copied: a conversation's every request repeats it whole, and this runs
  // under mu_.
  entry.body = std::move(request.body);
  request_log_bytes_ += entry.body.size();
  entry.status = status;
  entry.request_id = request_id;
  request_log_.push_back(std::move(entry));
}

Json ModelSimulator::RequestLogLocked() const {
  Json log = Json::array();
  for (const LoggedRequest& r : request_log_) {
    Json headers = Json::object();
    for (const auto& [name, value] : r.headers) headers[name] = value;
    Json body = ParseBody(r.body);
    Json entry = Json::object();
    entry["method"] = r.method;
    entry["path"] = r.path;
    entry["headers"] = std::move(headers);
    entry["body"] = body.is_discarded() ? Json(r.body) : std::move(body);
    entry["status"] = r.status;
    entry["request_id"] = r.request_id;
    log.push_back(std::move(entry));
  }
  return log;
}

HttpResponse ModelSimulator::HandleMessages(HttpRequest& request) {
  const std::string request_id = NextRequestId();
  std::optional<RequestView> body;
  std::optional<ApiError> error = ReadBody(request, RequestKind::kMessages, body);
  const int64_t input_tokens = error ? 0 : EstimateInputTokens(*body);

  std::optional<ScriptedReply> script;
  CacheUsage cache;
  std::vector<std::pair<std::string, std::string>> rate_headers;
  {
    absl::MutexLock lock(&mu_);
    if (!error && options_.rate_limit_rps > 0) {
      // A token bucket of one second's requests, refilled continuously.
      const double rps = options_.rate_limit_rps;
      const absl::Time now = absl::Now();
      if (rate_updated_ == absl::InfinitePast()) rate_tokens_ = rps;
      if (rate_updated_ != absl::InfinitePast()) {
        rate_tokens_ = std::min(rps, rate_tokens_ + rps * absl::ToDoubleSeconds(now - rate_updated_));
      }
      rate_updated_ = now;
      const bool limited = rate_tokens_ < 1;
      if (!limited) rate_tokens_ -= 1;
      const absl::Time reset = now + absl::Seconds((rps - rate_tokens_) / rps);
      rate_headers = {{"anthropic-ratelimit-requests-limit", std::to_string(options_.rate_limit_rps)},
                      {"anthropic-ratelimit-requests-remaining", std::to_string(static_cast<int64_t>(rate_tokens_))},
                      {"anthropic-ratelimit-requests-reset", absl::FormatTime("%Y-%m-%dT%H:%M:%E3SZ", reset,
                                                                              absl::UTCTimeZone())}};
      if (limited) {
        const double wait_s = (1 - rate_tokens_) / rps;
        error = ApiError{429, "rate_limit_error",
                         absl::StrCat("This request would exceed the rate limit of ", options_.rate_limit_rps,
                                      " requests per second")};
        rate_headers.emplace_back("retry-after", std::to_string(static_cast<int64_t>(std::ceil(wait_s))));
        rate_headers.emplace_back("retry-after-ms", std::to_string(static_cast<int64_t>(std::ceil(wait_s * 1000))));
      }
    }
    if (!error) script = replies_.Take(request.body);
    // Only a reply that is a message reads or writes the prompt cache.
    if (!error && (!script || script->kind == ScriptedReply::Kind::kMessage)) {
      cache = prompt_cache_.Apply(*body, input_tokens);
    }
    if (script) ++scripted_replies_used_;
    int status = error ? error->status : 200;
    if (script && script->kind == ScriptedReply::Kind::kError) status = script->status;
    const bool stream = !error && body->rest.value("stream", false) == true;
    if (script && script->kind == ScriptedReply::Kind::kStreamError && !stream) status = script->status;
    RecordLocked(request, status, request_id);
  }

  HttpResponse response =
      error ? ErrorResponse(*error, request_id) : BuildReply(*body, input_tokens, script, request_id, cache);
  if (error) response.delay = absl::Milliseconds(options_.latency_ms);
  for (const auto& [name, value] : rate_headers) response.SetHeader(name, value);
  BATON_LOG(INFO) << "POST /v1/messages -> " << response.status << (response.streamed ? " (stream)" : "")
                  << (script ? " scripted" : error ? "" : " default") << " " << request_id
                  << (error ? absl::StrCat(": ", error->message) : "");
  return response;
}

HttpResponse ModelSimulator::BuildReply(const RequestView& view, int64_t input_tokens, const std::optional<ScriptedReply>& script,
                                        const std::string& request_id, const CacheUsage& cache) {
  using Kind = ScriptedReply::Kind;
  const Json& body = view.rest;
  const Directives directives = ParseDirectives(view);
  const bool stream = body.value("stream", false) == true;
  const absl::Duration delay =
      absl::Milliseconds(options_.latency_ms + directives.sleep_ms + (script ? script->delay_ms : 0));

  auto with_script_headers = [&](HttpResponse r) {
    r.delay = delay;
    if (script) {
      for (const auto& [k, v] : script->headers) r.SetHeader(absl::AsciiStrToLower(k), v);
    }
    return r;
  };

  if (script && (script->kind == Kind::kError || (script->kind == Kind::kStreamError && !stream))) {
    HttpResponse r =
        ErrorResponse(ApiError{script->status, script->error_type, script->error_message}, request_id);
    if (script->raw_body) {
      r.body = *script->raw_body;
      r.SetHeader("content-type", "text/plain");
    }
    return with_script_headers(std::move(r));
  }

  // The message: scripted content or the default agent's.
  Json content;
  std::string stop_reason;
  if (script && script->content) {
    content = *script->content;
    bool has_tool_use = false;
    for (size_t i = 0; i < content.size(); ++i) {
      Json& block = content[i];
      if (block["type"] != "tool_use") continue;
      has_tool_use = true;
      if (!block.contains("id")) block["id"] = ToolUseId(view, i);
      if (!block.contains("input")) block["input"] = Json::object();
      // Wire order: type, id, name, input.
      Json ordered = Json::object();
      for (const char* key : {"type", "id", "name", "input"}) ordered[key] = block[key];
      for (const auto& [k, v] : block.items()) {
        if (!ordered.contains(k)) ordered[k] = v;
      }
      block = std::move(ordered);
    }
    stop_reason = has_tool_use ? "tool_use" : "end_turn";
  } else {
    AgentReply agent = DefaultAgentReply(view, directives);
    content = std::move(agent.content);
    stop_reason = std::move(agent.stop_reason);
  }
  if (script && script->stop_reason) stop_reason = *script->stop_reason;

  Json usage = MakeUsage(input_tokens, EstimateOutputTokens(content));
  if (cache.breakpoints > 0) ApplyCacheUsage(cache, usage);
  if (script) {
    for (const auto& [k, v] : script->usage.items()) usage[k] = v;
  }
  const std::string model = script && script->model ? *script->model : body["model"].get<std::string>();
  Json message = MakeMessage(NextMessageId(), model, std::move(content), stop_reason,
                             script ? script->stop_sequence : Json(), std::move(usage));

  if (!stream) return with_script_headers(JsonResponse(200, message, request_id));

  HttpResponse r;
  r.status = 200;
  r.SetHeader("content-type", "text/event-stream; charset=utf-8");
  r.SetHeader("cache-control", "no-cache");
  r.SetHeader("request-id", request_id);
  r.streamed = true;
  r.parts = MessageToSseEvents(message);
  if (script) r.part_interval = absl::Milliseconds(script->event_delay_ms);
  if (script && script->kind == Kind::kStreamError) {
    if (static_cast<size_t>(script->after_events) < r.parts.size()) r.parts.resize(script->after_events);
    r.parts.push_back(SseEvent(
        "error", Json{{"type", "error"},
                      {"error", Json{{"type", script->error_type}, {"message", script->error_message}}}}));
  }
  return with_script_headers(std::move(r));
}

HttpResponse ModelSimulator::HandleCountTokens(const HttpRequest& request) {
  const std::string request_id = NextRequestId();
  std::optional<RequestView> body;
  std::optional<ApiError> error = ReadBody(request, RequestKind::kCountTokens, body);
  {
    absl::MutexLock lock(&mu_);
    ++count_tokens_requests_;
  }
  HttpResponse r = error ? ErrorResponse(*error, request_id)
                         : JsonResponse(200, Json{{"input_tokens", EstimateInputTokens(*body)}}, request_id);
  r.delay = absl::Milliseconds(options_.latency_ms);
  return r;
}

HttpResponse ModelSimulator::HandleControl(const HttpRequest& request) {
  const std::string& path = request.path;
  const std::string& method = request.method;
  if (path == "/_sim/script" && method == "POST") {
    Json script = ParseBody(request.body);
    if (script.is_discarded()) {
      return ErrorResponse(ApiError{400, "invalid_request_error", "The script is not valid JSON"}, "");
    }
    auto replies = ParseScript(script);
    if (!replies.ok()) {
      return ErrorResponse(ApiError{400, "invalid_request_error", std::string(replies.status().message())}, "");
    }
    const size_t added = replies->size();
    absl::MutexLock lock(&mu_);
    replies_.Append(*std::move(replies));
    return JsonResponse(200, Json{{"queued", added}, {"pending", replies_.pending()}}, "");
  }
  if (path == "/_sim/reset" && method == "POST") {
    absl::MutexLock lock(&mu_);
    replies_.Clear();
    request_log_.clear();
    request_log_bytes_ = 0;
    message_requests_ = 0;
    count_tokens_requests_ = 0;
    scripted_replies_used_ = 0;
    by_status_.clear();
    prompt_cache_.Clear();
    message_cache_.Clear();
    return JsonResponse(200, Json{{"ok", true}}, "");
  }
  if (path == "/_sim/requests" && method == "GET") {
    absl::MutexLock lock(&mu_);
    return JsonResponse(200, RequestLogLocked(), "");
  }
  if (path == "/_sim/stats" && method == "GET") {
    absl::MutexLock lock(&mu_);
    Json by_status = Json::object();
    for (const auto& [status, n] : by_status_) by_status[std::to_string(status)] = n;
    return JsonResponse(200,
                        Json{{"requests", message_requests_},
                             {"by_status", by_status},
                             {"count_tokens_requests", count_tokens_requests_},
                             {"scripted_replies_used", scripted_replies_used_},
                             {"scripted_replies_pending", replies_.pending()}},
                        "");
  }
  if (path == "/_sim/health" && method == "GET") return JsonResponse(200, Json{{"ok", true}}, "");
  return ErrorResponse(ApiError{404, "not_found_error", absl::StrCat("Not found: ", method, " ", path)}, "");
}

}  // namespace baton::model_sim
