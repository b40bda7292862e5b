#include "workers/model/messages_api_client.h"

#include <curl/curl.h>

#include <algorithm>
#include <cstdlib>
#include <exception>
#include <optional>
#include <utility>

#include "absl/random/random.h"
#include "absl/strings/ascii.h"
#include "absl/strings/cord.h"
#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/strip.h"
#include "common/json_codec.h"
#include "common/logging.h"
#include "common/status_macros.h"
#include "workers/model/api_error.h"
#include "workers/model/message_assembler.h"
#include "workers/model/sse_parser.h"

namespace baton::worker {
namespace {

using nlohmann::json;

// How often a call in flight (or sleeping between attempts) looks at is_cancelled.
// What it reads changes when a heartbeat answers (every TTL / 3, 3.3 s by default),
// on drain, and at the run's deadline, so 200 ms adds little to how soon a call
// stops; at 20 ms, each call waiting on the model woke 50 times a second, the
// worker's largest CPU cost per step once calls take long (docs/PERFORMANCE.md).
constexpr absl::Duration kCancelPollInterval = absl::Milliseconds(200);
// A non-streamed body larger than this is refused rather than buffered.
constexpr size_t kMaxBodyBytes = size_t{64} << 20;

void InitCurlOnce() {
  static const CURLcode result = curl_global_init(CURL_GLOBAL_DEFAULT);
  BATON_CHECK(result == CURLE_OK) << "curl_global_init: " << curl_easy_strerror(result);
}

std::string EnvOr(const char* name, std::string fallback) {
  const char* value = std::getenv(name);
  if (value == nullptr || *value == '\0') return fallback;
  return value;
}

long ToCurlMillis(absl::Duration d) {
  if (d == absl::InfiniteDuration() || d <= absl::ZeroDuration()) return 0;  // no limit
  return static_cast<long>(std::max<int64_t>(1, absl::ToInt64Milliseconds(d)));
}

// A curl_slist freed on scope exit.
class HeaderList {
 public:
  HeaderList() = default;
  ~HeaderList() { curl_slist_free_all(list_); }
  HeaderList(const HeaderList&) = delete;
  HeaderList& operator=(const HeaderList&) = delete;
  bool Add(const std::string& line) {
    curl_slist* next = curl_slist_append(list_, line.c_str());
    if (next == nullptr) return false;
    list_ = next;
    return true;
  }
  curl_slist* get() const { return list_; }
  void Clear() {
    curl_slist_free_all(list_);
    list_ = nullptr;
  }

 private:
  curl_slist* list_ = nullptr;
};

bool IsCancelled(const ModelCallOptions& options) {
  return options.is_cancelled && options.is_cancelled();
}

absl::Status CancelledError() { return absl::CancelledError("Messages API call cancelled"); }

// Sleeps for `delay` in short slices; false when is_cancelled fired meanwhile.
bool SleepUnlessCancelled(absl::Duration delay, const ModelCallOptions& options) {
  const absl::Time end = absl::Now() + delay;
  while (true) {
    if (IsCancelled(options)) return false;
    const absl::Duration left = end - absl::Now();
    if (left <= absl::ZeroDuration()) return true;
    absl::SleepFor(std::min(left, kCancelPollInterval));
  }
}

double Jitter() {
  thread_local absl::BitGen gen;
  return absl::Uniform<double>(gen, 0.0, 1.0);
}

// The state of one HTTP attempt, shared with curl's callbacks.
struct Transfer {
  enum class Body { kUndecided, kEvents, kBuffered };

  Transfer(CURL* easy, const ModelCallOptions& call, bool stream)
      : easy(easy), call(call), stream(stream), assembler(call.on_text) {}

  CURL* const easy;
  const ModelCallOptions& call;
  const bool stream;

  HttpHeaders headers;  // of the final response (a 100 Continue's are dropped)
  Body body_kind = Body::kUndecided;
  std::string body;  // kBuffered
  SseParser sse;     // kEvents
  MessageAssembler assembler;
  std::vector<SseEvent> events;
  // Set when a callback stopped the transfer: an `error` event, a malformed stream, an
  // oversized body.
  std::optional<absl::Status> abort_status;
  bool cancelled = false;
  // When the first content delta arrived (InfiniteFuture: none yet).
  absl::Time first_token = absl::InfiniteFuture();
};

size_t OnHeader(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  try {
    const absl::string_view line(data, bytes);
    if (absl::StartsWith(line, "HTTP/")) {
      transfer->headers.clear();  // a new response begins (after 1xx or a redirect)
      return bytes;
    }
    const size_t colon = line.find(':');
    if (colon == std::string_view::npos) return bytes;  // the blank line ending the block
    std::string name = absl::AsciiStrToLower(absl::StripAsciiWhitespace(line.substr(0, colon)));
    std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
    transfer->headers[std::move(name)] = std::move(value);
  } catch (const std::exception&) {
    return 0;  // out of memory; curl aborts the transfer
  }
  return bytes;
}

void DecideBodyKind(Transfer& transfer, long status) {
  auto type = transfer.headers.find("content-type");
  const bool event_stream =
      type != transfer.headers.end() &&
      absl::StartsWithIgnoreCase(type->second, "text/event-stream");
  // Error responses come as JSON even to a streaming request; a proxy may also answer a
  // streaming request with a JSON body, which then counts as the whole message.
  transfer.body_kind = transfer.stream && status >= 200 && status < 300 && event_stream
                           ? Transfer::Body::kEvents
                           : Transfer::Body::kBuffered;
}

size_t OnBody(char* data, size_t size, size_t count, void* user) {
  auto* transfer = static_cast<Transfer*>(user);
  const size_t bytes = size * count;
  // Nothing may unwind through curl's C frames: on_text or json could throw.
  try {
    if (transfer->body_kind == Transfer::Body::kUndecided) {
      long status = 0;
      curl_easy_getinfo(transfer->easy, CURLINFO_RESPONSE_CODE, &status);
      DecideBodyKind(*transfer, status);
    }
    if (transfer->body_kind == Transfer::Body::kBuffered) {
      if (transfer->body.size() + bytes > kMaxBodyBytes) {
        transfer->abort_status = absl::ResourceExhaustedError(
            absl::StrCat("Messages API response larger than ", kMaxBodyBytes, " bytes"));
        return 0;
      }
      transfer->body.append(data, bytes);
      return bytes;
    }
    transfer->events.clear();
    if (absl::Status status = transfer->sse.Feed(std::string_view(data, bytes),
                                                 &transfer->events);
        !status.ok()) {
      transfer->abort_status = std::move(status);
      return 0;
    }
    for (const SseEvent& event : transfer->events) {
      if (transfer->first_token == absl::InfiniteFuture() && event.event == "content_block_delta") {
        transfer->first_token = absl::Now();
      }
      if (absl::Status status = transfer->assembler.OnEvent(event.event, event.data);
          !status.ok()) {
        transfer->abort_status = std::move(status);
        return 0;
      }
    }
  } catch (const std::exception& e) {
    transfer->abort_status =
        absl::InternalError(absl::StrCat("Messages API response handling failed: ", e.what()));
    return 0;
  }
  return bytes;
}

int OnProgress(void* user, curl_off_t, curl_off_t, curl_off_t, curl_off_t) {
  auto* transfer = static_cast<Transfer*>(user);
  try {
    if (IsCancelled(transfer->call)) transfer->cancelled = true;
  } catch (const std::exception&) {
    transfer->cancelled = true;
  }
  return transfer->cancelled ? 1 : 0;
}

// baton_model_retries_total's reason: what made a retryable attempt fail.
std::string RetryReason(int http_status, const absl::Status& status) {
  switch (http_status) {
    case 0:
      return status.code() == absl::StatusCode::kDeadlineExceeded ? "timeout" : "connection";
    case 408:
      return "timeout";
    case 409:
      return "conflict";
    case 429:
      return "rate_limited";
    case 529:
      return "overloaded";
    default:
      if (http_status >= 500) return "server_error";
      // A 200 whose stream carried an error event or was cut off.
      return http_status < 300 ? "stream_error" : absl::StrCat("http_", http_status);
  }
}

std::string RequestIdOf(const HttpHeaders& headers) {
  auto it = headers.find("request-id");
  return it == headers.end() ? "" : it->second;
}

// A header value with a line break would let it smuggle in more headers.
absl::Status CheckOptions(const MessagesApiClientOptions& options) {
  auto has_line_break = [](const std::string& value) {
    return value.find_first_of("\r\n") != std::string::npos;
  };
  // Name the field, never show its value: it may be a credential.
  if (has_line_break(options.api_key)) {
    return absl::InvalidArgumentError("Messages API api_key contains a line break");
  }
  if (has_line_break(options.auth_token)) {
    return absl::InvalidArgumentError("Messages API auth_token contains a line break");
  }
  if (has_line_break(options.anthropic_version) || has_line_break(options.user_agent)) {
    return absl::InvalidArgumentError(
        "Messages API anthropic_version or user_agent contains a line break");
  }
  for (const std::string& beta : options.betas) {
    if (has_line_break(beta)) {
      return absl::InvalidArgumentError("Messages API beta name contains a line break");
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct MessagesApiClient::Handle {
  Handle() : multi(curl_multi_init()), easy(curl_easy_init()) {}
  ~Handle() {
    // The easy handle is never left attached to the multi handle between attempts.
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (multi != nullptr) curl_multi_cleanup(multi);
  }
  Handle(const Handle&) = delete;
  Handle& operator=(const Handle&) = delete;

  // The multi handle owns the connection cache, so a pooled pair reuses connections.
  CURLM* const multi;
  CURL* const easy;
  // The request's header lines, for an answer as JSON [0] or as events [1]: made at
  // the handle's first attempt of each kind (they depend only on the client's options).
  HeaderList headers[2];
};

struct MessagesApiClient::AttemptResult {
  absl::StatusOr<json> message = absl::UnknownError("attempt not made");
  bool retryable = false;
  int http_status = 0;  // 0: no response
  HttpHeaders headers;
  std::string request_id;
  // From the attempt's start to its first content delta (streamed); infinite: none.
  absl::Duration time_to_first_token = absl::InfiniteDuration();
};

MessagesApiClientOptions MessagesApiClientOptions::FromEnvironment() {
  MessagesApiClientOptions options;
  options.base_url = EnvOr("ANTHROPIC_BASE_URL", options.base_url);
  options.api_key = EnvOr("ANTHROPIC_API_KEY", "");
  options.auth_token = EnvOr("ANTHROPIC_AUTH_TOKEN", "");
  return options;
}

MessagesApiClient::MessagesApiClient(MessagesApiClientOptions options, const Clock& clock)
    : options_(std::move(options)),
      retry_policy_{.max_retries = std::max(0, options_.max_retries),
                    .initial_backoff = options_.initial_retry_backoff,
                    .max_backoff = options_.max_retry_backoff,
                    .max_delay = options_.max_retry_delay},
      clock_(clock),
      config_status_(CheckOptions(options_)) {
  InitCurlOnce();
  if (!config_status_.ok()) {
    BATON_LOG(ERROR) << config_status_;
  }
  if (options_.metrics != nullptr) {
    call_seconds_ = options_.metrics->AddHistogramFamily(
        "baton_model_call_seconds", "Messages API calls, retries and rate-limit waits included, by model and outcome.",
        metrics::Buckets::ModelCall());
    time_to_first_token_ = options_.metrics->AddHistogramFamily(
        "baton_model_time_to_first_token_seconds",
        "From the start of a streamed Messages API attempt that succeeded to its first content delta.",
        metrics::Buckets::ModelCall());
    retries_ = options_.metrics->AddCounterFamily("baton_model_retries_total",
                                                  "Messages API attempts retried, by reason.");
  }
}

MessagesApiClient::~MessagesApiClient() = default;

std::unique_ptr<MessagesApiClient::Handle> MessagesApiClient::AcquireHandle() {
  {
    absl::MutexLock lock(&mu_);
    if (!idle_handles_.empty()) {
      std::unique_ptr<Handle> handle = std::move(idle_handles_.back());
      idle_handles_.pop_back();
      return handle;
    }
  }
  auto handle = std::make_unique<Handle>();
  if (handle->easy == nullptr || handle->multi == nullptr) return nullptr;
  return handle;
}

void MessagesApiClient::ReleaseHandle(std::unique_ptr<Handle> handle) {
  absl::MutexLock lock(&mu_);
  idle_handles_.push_back(std::move(handle));
}

absl::StatusOr<ModelResponse> MessagesApiClient::CreateMessage(
    const json& request, const ModelCallOptions& options) {
  if (!request.is_object()) {
    return absl::InvalidArgumentError("Messages API request must be a JSON object");
  }
  // The body is the request with "stream" set as asked, serialized member by member:
  // copying the request (the whole conversation) to set one field cost as much as
  // serializing it (bench/, docs/PERFORMANCE.md).
  std::string serialized = "{";
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (it.key() == "stream") continue;
    if (serialized.size() > 1) serialized += ',';
    serialized += SerializeJson(it.key());
    serialized += ':';
    serialized += SerializeJson(it.value());
  }
  if (options.stream) serialized += serialized.size() > 1 ? ",\"stream\":true" : "\"stream\":true";
  serialized += '}';
  const int64_t max_tokens = request.contains("max_tokens") && request["max_tokens"].is_number_integer()
                                 ? request["max_tokens"].get<int64_t>()
                                 : 0;
  return Send(serialized, request.value("model", ""), max_tokens, options);
}

absl::StatusOr<ModelResponse> MessagesApiClient::CreateMessageSerialized(const SerializedRequest& request,
                                                                         const ModelCallOptions& options) {
  // The conversation is sent whole at every step: from where its builder keeps it in
  // one run of bytes when it does, so nothing here copies it.
  if (!request.whole.empty() && request.whole_streams == options.stream) {
    return Send(request.whole, request.model, request.max_tokens, options);
  }
  return Send(request.Body(options.stream), request.model, request.max_tokens, options);
}

absl::StatusOr<ModelResponse> MessagesApiClient::Send(std::string_view body, const std::string& model,
                                                      int64_t max_tokens, const ModelCallOptions& options) {
  RateAttempt rate;
  rate.model = model;
  rate.input_tokens = static_cast<int64_t>(body.size() / 4);  // about 4 bytes a token
  rate.output_tokens = max_tokens;
  const absl::Time start = absl::Now();
  absl::StatusOr<ModelResponse> response = Call("/v1/messages", body, options, options.stream, &rate);
  if (call_seconds_.enabled()) {
    call_seconds_.With({{"model", model}, {"outcome", metrics::OutcomeOf(response.status())}})
        .ObserveDuration(absl::Now() - start);
  }
  return response;
}

absl::StatusOr<int64_t> MessagesApiClient::CountTokens(const json& request,
                                                       const ModelCallOptions& options) {
  if (!request.is_object()) {
    return absl::InvalidArgumentError("count_tokens request must be a JSON object");
  }
  json body = json::object();
  for (auto it = request.begin(); it != request.end(); ++it) {
    if (CountTokensAccepts(it.key())) body[it.key()] = *it;
  }
  return SendCountTokens(SerializeJson(body), options);
}

absl::StatusOr<int64_t> MessagesApiClient::CountTokensSerialized(const SerializedRequest& request,
                                                                 const ModelCallOptions& options) {
  return SendCountTokens(request.CountTokensBody(), options);
}

absl::StatusOr<int64_t> MessagesApiClient::SendCountTokens(const std::string& body,
                                                           const ModelCallOptions& options) {
  auto response = Call("/v1/messages/count_tokens", body, options, /*stream=*/false);
  if (!response.ok()) return response.status();
  const json& message = response->message;
  auto tokens = message.find("input_tokens");
  if (tokens == message.end() || !tokens->is_number_integer()) {
    return absl::InternalError(absl::StrCat(
        "count_tokens response has no integer input_tokens (request-id ",
        response->request_id, ")"));
  }
  return tokens->get<int64_t>();
}

absl::StatusOr<ModelResponse> MessagesApiClient::Call(std::string_view path,
                                                      std::string_view body,
                                                      const ModelCallOptions& options,
                                                      bool stream, const RateAttempt* rate) {
  RateGate* gate = rate != nullptr ? options_.rate_gate : nullptr;
  RETURN_IF_ERROR(config_status_);
  const std::string url = absl::StrCat(absl::StripSuffix(options_.base_url, "/"),
                                       absl::string_view(path.data(), path.size()));
  const int max_attempts = retry_policy_.max_retries + 1;
  for (int attempt = 1;; ++attempt) {
    if (IsCancelled(options)) return CancelledError();
    if (gate != nullptr) {
      absl::Status acquired = gate->Acquire(*rate, [&options] { return IsCancelled(options); });
      if (absl::IsCancelled(acquired)) return CancelledError();
    }
    std::unique_ptr<Handle> handle = AcquireHandle();
    if (handle == nullptr) return absl::InternalError("curl handle allocation failed");
    AttemptResult result = Attempt(*handle, url, body, options, stream);
    ReleaseHandle(std::move(handle));
    if (gate != nullptr) {
      RateOutcome outcome;
      outcome.http_status = result.http_status;
      outcome.headers = result.headers;
      if (result.message.ok() && result.message->contains("usage") && (*result.message)["usage"].is_object()) {
        const json& usage = (*result.message)["usage"];
        auto get = [&usage](const char* key) {
          return usage.contains(key) && usage[key].is_number_integer() ? usage[key].get<int64_t>() : 0;
        };
        // Cache reads do not count towards input-token rate limits.
        outcome.input_tokens = get("input_tokens") + get("cache_creation_input_tokens");
        outcome.output_tokens = get("output_tokens");
      }
      gate->Report(*rate, outcome);
    }

    if (result.message.ok()) {
      if (rate != nullptr && result.time_to_first_token != absl::InfiniteDuration() &&
          time_to_first_token_.enabled()) {
        time_to_first_token_.With({{"model", rate->model}}).ObserveDuration(result.time_to_first_token);
      }
      ModelResponse response;
      response.message = *std::move(result.message);
      response.request_id = std::move(result.request_id);
      response.attempts = attempt;
      if (result.time_to_first_token != absl::InfiniteDuration()) {
        response.time_to_first_chunk = result.time_to_first_token;
      }
      return response;
    }
    const absl::Status& status = result.message.status();
    if (!result.retryable) return status;
    if (attempt >= max_attempts) {
      if (attempt == 1) return status;
      absl::Status final_status(status.code(), absl::StrCat(status.message(),
                                                            "; gave up after ", attempt,
                                                            " attempts"));
      status.ForEachPayload([&](absl::string_view type_url, const absl::Cord& payload) {
        final_status.SetPayload(type_url, payload);
      });
      return final_status;
    }
    if (retries_.enabled()) retries_.With({{"reason", RetryReason(result.http_status, status)}}).Increment();
    // A 429 with a rate gate: the gate (told of it above) spaces the next attempt.
    const absl::Duration delay =
        gate != nullptr && result.http_status == 429 && gate->Governs(rate->model)
            ? absl::ZeroDuration()
            : RetryDelay(retry_policy_, attempt - 1, result.headers, Jitter(), clock_.Now());
    BATON_LOG(WARNING) << "Messages API attempt " << attempt << " of " << max_attempts
                       << " failed: " << absl::StatusCodeToString(status.code()) << ": "
                       << status.message() << "; retrying in " << delay;
    if (!SleepUnlessCancelled(delay, options)) return CancelledError();
  }
}

MessagesApiClient::AttemptResult MessagesApiClient::Attempt(Handle& handle,
                                                            const std::string& url,
                                                            std::string_view body,
                                                            const ModelCallOptions& options,
                                                            bool stream) {
  AttemptResult result;
  CURL* easy = handle.easy;  // reset after each attempt: it holds none of its options
  HeaderList& headers = handle.headers[stream ? 1 : 0];
  if (headers.get() == nullptr) {
    bool headers_ok = headers.Add("content-type: application/json") &&
                      headers.Add(stream ? "accept: text/event-stream" : "accept: application/json") &&
                      headers.Add("anthropic-version: " + options_.anthropic_version) &&
                      headers.Add("Expect:");  // no 100-continue round trip for big bodies
    if (!options_.api_key.empty()) headers_ok &= headers.Add("x-api-key: " + options_.api_key);
    if (!options_.auth_token.empty()) {
      headers_ok &= headers.Add("authorization: Bearer " + options_.auth_token);
    }
    if (!options_.betas.empty()) {
      headers_ok &= headers.Add("anthropic-beta: " + absl::StrJoin(options_.betas, ","));
    }
    if (!headers_ok) {
      headers.Clear();
      result.message = absl::ResourceExhaustedError("out of memory building request headers");
      return result;
    }
  }

  Transfer transfer(easy, options, stream);
  char error_buffer[CURL_ERROR_SIZE] = {0};
  curl_easy_setopt(easy, CURLOPT_URL, url.c_str());
  curl_easy_setopt(easy, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(easy, CURLOPT_POST, 1L);
  curl_easy_setopt(easy, CURLOPT_POSTFIELDS, body.data());
  curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(body.size()));
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, headers.get());
  curl_easy_setopt(easy, CURLOPT_USERAGENT, options_.user_agent.c_str());
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, ToCurlMillis(options_.connect_timeout));
  curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, ToCurlMillis(options.attempt_timeout));
  curl_easy_setopt(easy, CURLOPT_ERRORBUFFER, error_buffer);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, &transfer);
  curl_easy_setopt(easy, CURLOPT_NOPROGRESS, 0L);
  curl_easy_setopt(easy, CURLOPT_XFERINFOFUNCTION, &OnProgress);
  curl_easy_setopt(easy, CURLOPT_XFERINFODATA, &transfer);

  // Drive the transfer with the multi interface so that is_cancelled is polled every
  // kCancelPollInterval even while the server sends nothing (the progress callback alone
  // may wait a second between calls on an idle connection).
  const absl::Time start = absl::Now();
  CURLcode code = CURLE_OK;
  bool done = false;
  if (CURLMcode added = curl_multi_add_handle(handle.multi, easy); added != CURLM_OK) {
    curl_easy_reset(easy);  // it must not keep pointers into this frame
    result.message = absl::InternalError(
        absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(added)));
    return result;
  }
  while (!done) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(handle.multi, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(handle.multi, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy) {
        code = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    if (mc != CURLM_OK) {
      code = CURLE_RECV_ERROR;
      snprintf(error_buffer, sizeof(error_buffer), "curl_multi_perform: %s",
               curl_multi_strerror(mc));
      break;
    }
    if (transfer.cancelled || IsCancelled(options)) {
      transfer.cancelled = true;
      break;
    }
    mc = curl_multi_poll(handle.multi, nullptr, 0,
                         static_cast<int>(absl::ToInt64Milliseconds(kCancelPollInterval)),
                         nullptr);
    if (mc != CURLM_OK) {
      code = CURLE_RECV_ERROR;
      snprintf(error_buffer, sizeof(error_buffer), "curl_multi_poll: %s",
               curl_multi_strerror(mc));
      break;
    }
  }
  curl_multi_remove_handle(handle.multi, easy);  // closes the connection if unfinished
  const absl::Duration elapsed = absl::Now() - start;

  long http_status = 0;
  curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &http_status);
  result.http_status = static_cast<int>(http_status);
  // Drop the pointers into this frame (error buffer, body, headers, callbacks' data)
  // before the handle goes back to the pool.
  curl_easy_reset(easy);
  if (transfer.first_token != absl::InfiniteFuture()) result.time_to_first_token = transfer.first_token - start;
  result.headers = std::move(transfer.headers);
  result.request_id = RequestIdOf(result.headers);

  if (transfer.cancelled) {
    result.message = CancelledError();
    return result;
  }

  if (transfer.abort_status.has_value()) {
    // A callback stopped the transfer. An `error` event gets the request-id and is
    // retried when its type is; a malformed stream or an oversized body is not retried.
    if (const std::optional<ApiError>& api_error = transfer.assembler.error()) {
      ApiError error = *api_error;
      if (error.request_id.empty()) error.request_id = result.request_id;
      result.message = error.ToStatus();
      result.retryable = ShouldRetryStreamError(error.type);
    } else {
      result.message = *transfer.abort_status;
    }
    return result;
  }

  if (code != CURLE_OK) {
    const std::string detail =
        error_buffer[0] != '\0' ? std::string(error_buffer) : curl_easy_strerror(code);
    switch (code) {
      case CURLE_UNSUPPORTED_PROTOCOL:
      case CURLE_URL_MALFORMAT:
        result.message = absl::InvalidArgumentError(
            absl::StrCat("Messages API base URL ", options_.base_url, ": ", detail));
        return result;
      case CURLE_OPERATION_TIMEDOUT:
        // The same code covers the connect timeout; only the attempt's own limit is
        // kDeadlineExceeded.
        if (options.attempt_timeout != absl::InfiniteDuration() &&
            elapsed + absl::Milliseconds(50) >= options.attempt_timeout) {
          result.message = absl::DeadlineExceededError(absl::StrCat(
              "Messages API attempt timed out after ", absl::FormatDuration(elapsed),
              http_status != 0 ? absl::StrCat(" (HTTP ", http_status, ")") : "",
              result.request_id.empty() ? ""
                                        : absl::StrCat(" (request-id ", result.request_id, ")")));
        } else {
          result.message =
              absl::UnavailableError(absl::StrCat("Messages API connection error: ", detail));
        }
        result.retryable = true;
        return result;
      default:
        result.message = absl::UnavailableError(absl::StrCat(
            "Messages API connection error: ", detail,
            http_status != 0 ? absl::StrCat(" (after HTTP ", http_status, ")") : "",
            result.request_id.empty() ? ""
                                      : absl::StrCat(" (request-id ", result.request_id, ")")));
        result.retryable = true;
        return result;
    }
  }

  if (http_status < 200 || http_status >= 300) {
    ApiError error = ParseApiErrorBody(static_cast<int>(http_status), transfer.body,
                                       result.request_id);
    result.message = error.ToStatus();
    result.retryable = ShouldRetry(static_cast<int>(http_status), result.headers);
    if (result.request_id.empty()) result.request_id = error.request_id;
    return result;
  }

  if (transfer.body_kind == Transfer::Body::kUndecided) {
    DecideBodyKind(transfer, http_status);  // an empty body: a stream cut off at once
  }
  if (transfer.body_kind == Transfer::Body::kEvents) {
    auto message = transfer.assembler.Finish();
    if (!message.ok()) {
      // Only a truncated stream gets here (errors stopped the transfer above).
      result.retryable = message.status().code() == absl::StatusCode::kUnavailable;
      result.message = absl::Status(
          message.status().code(),
          absl::StrCat(message.status().message(),
                       result.request_id.empty()
                           ? ""
                           : absl::StrCat(" (request-id ", result.request_id, ")")));
      return result;
    }
    result.message = *std::move(message);
    return result;
  }

  json parsed = ParseJson(transfer.body);
  if (parsed.is_discarded() || !parsed.is_object()) {
    result.message = absl::InternalError(absl::StrCat(
        "Messages API ", http_status, " response is not a JSON object",
        result.request_id.empty() ? "" : absl::StrCat(" (request-id ", result.request_id, ")")));
    return result;
  }
  result.message = std::move(parsed);
  return result;
}

}  // namespace baton::worker
