#include "workers/model/messages_api_client.h"

#include <curl/curl.h>
#include <poll.h>

#include <algorithm>
#include <cerrno>
#include <cstdlib>
#include <cstring>
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
#include "workers/model/http1_response.h"
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
// A request body up to this size is copied behind its head, so one write carries both.
constexpr size_t kBodyCopiedBytes = 16 * 1024;
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

// The state of one HTTP attempt: what the response parser hands on goes into it.
struct Transfer final : Http1ResponseParser::Handler {
  enum class Body { kUndecided, kEvents, kBuffered };

  Transfer(const ModelCallOptions& call, bool stream) : stream(stream), assembler(call.on_text) {}

  absl::Status OnHead(int status, HttpHeaders response_headers) override;
  absl::Status OnBody(std::string_view bytes) override;
  // Keeps `status` as the reason the transfer stopped, and returns it.
  absl::Status Abort(absl::Status status) {
    abort_status = status;
    return status;
  }

  const bool stream;

  HttpHeaders headers;  // of the final response (an interim 1xx's are dropped)
  Body body_kind = Body::kUndecided;
  std::string body;  // kBuffered
  SseParser sse;     // kEvents
  MessageAssembler assembler;
  std::vector<SseEvent> events;
  // Set when the body stopped the transfer: an `error` event, a malformed stream, an
  // oversized body.
  std::optional<absl::Status> abort_status;
  // When the first content delta arrived (InfiniteFuture: none yet).
  absl::Time first_token = absl::InfiniteFuture();
};

absl::Status Transfer::OnHead(int status, HttpHeaders response_headers) {
  headers = std::move(response_headers);
  auto type = headers.find("content-type");
  const bool event_stream =
      type != headers.end() && absl::StartsWithIgnoreCase(type->second, "text/event-stream");
  // Error responses come as JSON even to a streaming request; a proxy may also answer a
  // streaming request with a JSON body, which then counts as the whole message.
  body_kind = stream && status >= 200 && status < 300 && event_stream ? Body::kEvents : Body::kBuffered;
  return absl::OkStatus();
}

absl::Status Transfer::OnBody(std::string_view bytes) {
  if (body_kind == Body::kBuffered) {
    if (body.size() + bytes.size() > kMaxBodyBytes) {
      return Abort(absl::ResourceExhaustedError(
          absl::StrCat("Messages API response larger than ", kMaxBodyBytes, " bytes")));
    }
    body.append(bytes);
    return absl::OkStatus();
  }
  events.clear();
  if (absl::Status status = sse.Feed(bytes, &events); !status.ok()) return Abort(std::move(status));
  for (const SseEvent& event : events) {
    if (first_token == absl::InfiniteFuture() && event.event == "content_block_delta") {
      first_token = absl::Now();
    }
    if (absl::Status status = assembler.OnEvent(event.event, event.data); !status.ok()) {
      return Abort(std::move(status));
    }
  }
  return absl::OkStatus();
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

// Why an exchange with the API stopped before its answer was whole.
struct IoError {
  enum class Kind {
    kNone,
    kCancelled,   // is_cancelled said so
    kTimedOut,    // the attempt's deadline, or libcurl's connect timeout
    kConnection,  // connecting, sending or receiving failed, or the answer was malformed
    kBadUrl,      // libcurl refused the base URL
    kAborted,     // the answer's body stopped it (Transfer::abort_status)
  };
  Kind kind = Kind::kNone;
  std::string detail;

  bool ok() const { return kind == Kind::kNone; }
};

// One connection to the API, kept between calls. libcurl opens it
// (CURLOPT_CONNECT_ONLY: name resolution, TCP, TLS, proxies); the client writes each
// request on it and reads the answer with Http1ResponseParser. libcurl's own HTTP
// transfer was a quarter of the worker's instructions per model step, and its CPU per
// step fell by a fifth without it (docs/PERFORMANCE.md).
class ApiConnection {
 public:
  ApiConnection() = default;
  ~ApiConnection() { Close(); }
  ApiConnection(const ApiConnection&) = delete;
  ApiConnection& operator=(const ApiConnection&) = delete;

  // Whether a connection is open and idle for less than kMaxIdle at `now`.
  bool Reusable(absl::Time now) const { return easy_ != nullptr && now - last_used_ < kMaxIdle; }

  // Closes any connection, then opens one to `client.base_url`'s origin.
  IoError Open(const MessagesApiClientOptions& client, const ModelCallOptions& call, absl::Time deadline);

  // Sends `request`, then `more` (the rest of its body, when it was not copied behind
  // the head), and reads the answer into `parser`. The connection is kept for the next
  // request when the answer says it may be, else closed.
  IoError Exchange(std::string_view request, std::string_view more, Http1ResponseParser& parser, Transfer& transfer,
                   const ModelCallOptions& call, absl::Time deadline);

  void Close();

 private:
  // libcurl does not use a connection idle for longer than this either
  // (CURLOPT_MAXAGE_CONN's default); a server or a middlebox has likely dropped it.
  static constexpr absl::Duration kMaxIdle = absl::Seconds(118);

  IoError Send(std::string_view request, const ModelCallOptions& call, absl::Time deadline);
  IoError Receive(Http1ResponseParser& parser, Transfer& transfer, const ModelCallOptions& call,
                  absl::Time deadline);
  // Until the socket is ready for `events`; an error when cancelled, past the deadline or
  // when poll fails.
  IoError Wait(short events, const ModelCallOptions& call, absl::Time deadline) const;
  IoError CurlError(CURLcode code) const;

  // The multi handle drives the connect (so is_cancelled is looked at meanwhile) and
  // owns the connection; the easy handle stays attached to it while it is open.
  CURLM* multi_ = nullptr;
  CURL* easy_ = nullptr;
  curl_socket_t socket_ = CURL_SOCKET_BAD;
  absl::Time last_used_;   // when its last answer ended
  char error_[CURL_ERROR_SIZE] = {0};  // libcurl's words for its last error
};

void ApiConnection::Close() {
  if (easy_ != nullptr) {
    if (multi_ != nullptr) curl_multi_remove_handle(multi_, easy_);
    curl_easy_cleanup(easy_);
    easy_ = nullptr;
  }
  if (multi_ != nullptr) {
    curl_multi_cleanup(multi_);  // closes the connection it owns
    multi_ = nullptr;
  }
  socket_ = CURL_SOCKET_BAD;
}

IoError ApiConnection::CurlError(CURLcode code) const {
  std::string detail = error_[0] != '\0' ? std::string(error_) : curl_easy_strerror(code);
  switch (code) {
    case CURLE_UNSUPPORTED_PROTOCOL:
    case CURLE_URL_MALFORMAT:
      return {IoError::Kind::kBadUrl, std::move(detail)};
    case CURLE_OPERATION_TIMEDOUT:
      return {IoError::Kind::kTimedOut, std::move(detail)};
    default:
      return {IoError::Kind::kConnection, std::move(detail)};
  }
}

IoError ApiConnection::Open(const MessagesApiClientOptions& client, const ModelCallOptions& call,
                            absl::Time deadline) {
  Close();
  multi_ = curl_multi_init();
  easy_ = curl_easy_init();
  if (multi_ == nullptr || easy_ == nullptr) {
    Close();
    return {IoError::Kind::kConnection, "curl handle allocation failed"};
  }
  error_[0] = '\0';
  curl_easy_setopt(easy_, CURLOPT_URL, client.base_url.c_str());
  curl_easy_setopt(easy_, CURLOPT_CONNECT_ONLY, 1L);
  curl_easy_setopt(easy_, CURLOPT_PROTOCOLS_STR, "http,https");
  // The client speaks HTTP/1.1 on the connection, so TLS must not agree on h2 (ALPN).
  curl_easy_setopt(easy_, CURLOPT_HTTP_VERSION, static_cast<long>(CURL_HTTP_VERSION_1_1));
  // Through a proxy the connection is a tunnel (CONNECT) for http:// as for https://, so
  // the requests written on it are the origin's.
  curl_easy_setopt(easy_, CURLOPT_HTTPPROXYTUNNEL, 1L);
  curl_easy_setopt(easy_, CURLOPT_USERAGENT, client.user_agent.c_str());  // for a proxy's CONNECT
  curl_easy_setopt(easy_, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy_, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy_, CURLOPT_CONNECTTIMEOUT_MS, ToCurlMillis(client.connect_timeout));
  curl_easy_setopt(easy_, CURLOPT_ERRORBUFFER, error_);
  if (!client.ca_file.empty()) curl_easy_setopt(easy_, CURLOPT_CAINFO, client.ca_file.c_str());
  if (CURLMcode added = curl_multi_add_handle(multi_, easy_); added != CURLM_OK) {
    IoError error{IoError::Kind::kConnection, absl::StrCat("curl_multi_add_handle: ", curl_multi_strerror(added))};
    Close();
    return error;
  }
  CURLcode code = CURLE_OK;
  for (bool done = false; !done;) {
    int running = 0;
    CURLMcode mc = curl_multi_perform(multi_, &running);
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi_, &queued)) {
      if (msg->msg == CURLMSG_DONE && msg->easy_handle == easy_) {
        code = msg->data.result;
        done = true;
      }
    }
    if (done) break;
    IoError error;
    const absl::Time now = absl::Now();
    if (mc != CURLM_OK) {
      error = {IoError::Kind::kConnection, absl::StrCat("curl_multi_perform: ", curl_multi_strerror(mc))};
    } else if (IsCancelled(call)) {
      error.kind = IoError::Kind::kCancelled;
    } else if (now >= deadline) {
      error = {IoError::Kind::kTimedOut, "the attempt's time ran out while connecting"};
    } else {
      const absl::Duration wait = std::min(kCancelPollInterval, deadline - now);
      mc = curl_multi_poll(multi_, nullptr, 0, static_cast<int>(ToCurlMillis(wait)), nullptr);
      if (mc != CURLM_OK) {
        error = {IoError::Kind::kConnection, absl::StrCat("curl_multi_poll: ", curl_multi_strerror(mc))};
      }
    }
    if (!error.ok()) {
      Close();
      return error;
    }
  }
  if (code == CURLE_OK) {
    code = curl_easy_getinfo(easy_, CURLINFO_ACTIVESOCKET, &socket_);
    if (code == CURLE_OK && socket_ == CURL_SOCKET_BAD) code = CURLE_COULDNT_CONNECT;
  }
  if (code != CURLE_OK) {
    IoError error = CurlError(code);
    Close();
    return error;
  }
  return {};
}

IoError ApiConnection::Wait(short events, const ModelCallOptions& call, absl::Time deadline) const {
  while (true) {
    if (IsCancelled(call)) return {IoError::Kind::kCancelled, ""};
    const absl::Time now = absl::Now();
    if (now >= deadline) return {IoError::Kind::kTimedOut, "the attempt's time ran out"};
    pollfd fd{socket_, events, 0};
    const int ready =
        poll(&fd, 1, static_cast<int>(ToCurlMillis(std::min(kCancelPollInterval, deadline - now))));
    if (ready > 0) return {};
    if (ready < 0 && errno != EINTR) {
      return {IoError::Kind::kConnection, absl::StrCat("poll: ", std::strerror(errno))};
    }
  }
}

IoError ApiConnection::Send(std::string_view request, const ModelCallOptions& call, absl::Time deadline) {
  for (size_t sent = 0; sent < request.size();) {
    size_t n = 0;
    const CURLcode code = curl_easy_send(easy_, request.data() + sent, request.size() - sent, &n);
    if (code == CURLE_AGAIN) {
      if (IoError waited = Wait(POLLOUT, call, deadline); !waited.ok()) return waited;
      continue;
    }
    if (code != CURLE_OK) return CurlError(code);
    sent += n;
  }
  return {};
}

IoError ApiConnection::Receive(Http1ResponseParser& parser, Transfer& transfer, const ModelCallOptions& call,
                               absl::Time deadline) {
  char buffer[16 * 1024];
  while (!parser.complete()) {
    if (IsCancelled(call)) return {IoError::Kind::kCancelled, ""};
    // A server that never stops sending must not outlast the attempt either.
    if (absl::Now() >= deadline) return {IoError::Kind::kTimedOut, "the attempt's time ran out"};
    size_t n = 0;
    // Read until libcurl says to wait: TLS may hold decrypted bytes the socket no
    // longer shows.
    const CURLcode code = curl_easy_recv(easy_, buffer, sizeof(buffer), &n);
    if (code == CURLE_AGAIN) {
      if (IoError waited = Wait(POLLIN, call, deadline); !waited.ok()) return waited;
      continue;
    }
    if (code != CURLE_OK) return CurlError(code);
    absl::Status parsed;
    try {  // on_text, and the JSON of the events, may throw
      parsed = n == 0 ? parser.FinishAtClose() : parser.Feed(std::string_view(buffer, n));
    } catch (const std::exception& e) {
      transfer.abort_status =
          absl::InternalError(absl::StrCat("Messages API response handling failed: ", e.what()));
      return {IoError::Kind::kAborted, ""};
    }
    if (!parsed.ok()) {
      if (transfer.abort_status.has_value()) return {IoError::Kind::kAborted, ""};
      return {IoError::Kind::kConnection, std::string(parsed.message())};
    }
    if (n == 0) break;  // the answer ended with the connection
  }
  return {};
}

IoError ApiConnection::Exchange(std::string_view request, std::string_view more, Http1ResponseParser& parser,
                                Transfer& transfer,
                                const ModelCallOptions& call, absl::Time deadline) {
  error_[0] = '\0';
  IoError error = Send(request, call, deadline);
  if (error.ok()) error = Send(more, call, deadline);
  if (error.ok()) error = Receive(parser, transfer, call, deadline);
  // A connection left in the middle of an answer cannot carry the next request.
  if (error.ok() && parser.keep_alive()) {
    last_used_ = absl::Now();
  } else {
    Close();
  }
  return error;
}

// What every request shares, made once from the options: the path of base_url (its
// trailing '/' dropped), which the request line puts before the endpoint's, and the
// header lines after the request line, for an answer as JSON [0] or as events [1].
absl::Status PrepareRequests(const MessagesApiClientOptions& options, std::string* path_prefix,
                             std::string header_lines[2]) {
  RETURN_IF_ERROR(CheckOptions(options));
  InitCurlOnce();
  auto invalid = [&options](std::string_view why) {
    return absl::InvalidArgumentError(
        absl::StrCat("Messages API base URL ", options.base_url, ": ", absl::string_view(why.data(), why.size())));
  };
  std::unique_ptr<CURLU, decltype(&curl_url_cleanup)> url(curl_url(), &curl_url_cleanup);
  if (url == nullptr) return absl::ResourceExhaustedError("curl URL handle allocation failed");
  if (CURLUcode parsed = curl_url_set(url.get(), CURLUPART_URL, options.base_url.c_str(), 0);
      parsed != CURLUE_OK) {
    return invalid(curl_url_strerror(parsed));
  }
  auto part = [&url](CURLUPart which) -> std::optional<std::string> {
    char* value = nullptr;
    if (curl_url_get(url.get(), which, &value, 0) != CURLUE_OK || value == nullptr) return std::nullopt;
    std::string copy(value);
    curl_free(value);
    return copy;
  };
  const std::string scheme = absl::AsciiStrToLower(part(CURLUPART_SCHEME).value_or(""));
  if (scheme != "http" && scheme != "https") return invalid("the scheme must be http or https");
  if (part(CURLUPART_USER).has_value() || part(CURLUPART_PASSWORD).has_value()) {
    // Not shown: the URL holds a credential.
    return absl::InvalidArgumentError(
        "Messages API base URL holds a user name or password; set api_key or auth_token instead");
  }
  if (part(CURLUPART_QUERY).has_value() || part(CURLUPART_FRAGMENT).has_value()) {
    return invalid("a query or fragment cannot come before the endpoint's path");
  }
  const std::optional<std::string> host = part(CURLUPART_HOST);
  if (!host.has_value() || host->empty()) return invalid("no host");
  const std::optional<std::string> port = part(CURLUPART_PORT);  // only when the URL names one
  *path_prefix = std::string(absl::StripSuffix(part(CURLUPART_PATH).value_or(""), "/"));
  for (int stream = 0; stream < 2; ++stream) {
    std::string& lines = header_lines[stream];
    absl::StrAppend(&lines, "Host: ", *host, port.has_value() ? absl::StrCat(":", *port) : "", "\r\n",
                    "User-Agent: ", options.user_agent, "\r\n",
                    "content-type: application/json\r\n",
                    stream ? "accept: text/event-stream\r\n" : "accept: application/json\r\n",
                    "anthropic-version: ", options.anthropic_version, "\r\n");
    if (!options.api_key.empty()) absl::StrAppend(&lines, "x-api-key: ", options.api_key, "\r\n");
    if (!options.auth_token.empty()) {
      absl::StrAppend(&lines, "authorization: Bearer ", options.auth_token, "\r\n");
    }
    if (!options.betas.empty()) {
      absl::StrAppend(&lines, "anthropic-beta: ", absl::StrJoin(options.betas, ","), "\r\n");
    }
  }
  return absl::OkStatus();
}

}  // namespace

struct MessagesApiClient::Handle {
  ApiConnection connection;
  std::string request;  // the request's head (and a small body), kept for the buffer's capacity
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
  options.ca_file = EnvOr("SSL_CERT_FILE", "");
  return options;
}

MessagesApiClient::MessagesApiClient(MessagesApiClientOptions options, const Clock& clock)
    : options_(std::move(options)),
      retry_policy_{.max_retries = std::max(0, options_.max_retries),
                    .initial_backoff = options_.initial_retry_backoff,
                    .max_backoff = options_.max_retry_backoff,
                    .max_delay = options_.max_retry_delay},
      clock_(clock) {
  config_status_ = PrepareRequests(options_, &path_prefix_, header_lines_);
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
  return std::make_unique<Handle>();
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
  const int max_attempts = retry_policy_.max_retries + 1;
  for (int attempt = 1;; ++attempt) {
    if (IsCancelled(options)) return CancelledError();
    if (gate != nullptr) {
      absl::Status acquired = gate->Acquire(*rate, [&options] { return IsCancelled(options); });
      if (absl::IsCancelled(acquired)) return CancelledError();
    }
    std::unique_ptr<Handle> handle = AcquireHandle();
    AttemptResult result = Attempt(*handle, path, body, options, stream);
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

MessagesApiClient::AttemptResult MessagesApiClient::Attempt(Handle& handle, std::string_view path,
                                                            std::string_view body,
                                                            const ModelCallOptions& options,
                                                            bool stream) {
  AttemptResult result;
  std::string& request = handle.request;
  request.clear();
  absl::StrAppend(&request, "POST ", path_prefix_, absl::string_view(path.data(), path.size()), " HTTP/1.1\r\n",
                  header_lines_[stream ? 1 : 0], "Content-Length: ", body.size(), "\r\n\r\n");
  // A small body rides in the head's write; a larger one is sent from the caller's
  // buffer, so nothing that grows with the conversation is copied per call.
  std::string_view more = body;
  if (body.size() <= kBodyCopiedBytes) {
    request.append(body.data(), body.size());
    more = {};
  }

  const absl::Time start = absl::Now();
  const absl::Time deadline = options.attempt_timeout == absl::InfiniteDuration()
                                  ? absl::InfiniteFuture()
                                  : start + options.attempt_timeout;
  Transfer transfer(options, stream);
  Http1ResponseParser parser(transfer);
  ApiConnection& connection = handle.connection;
  IoError error;
  // A connection kept from an earlier call may have been closed by the server since. If
  // it fails before any byte of an answer, the request goes once more on a new one: the
  // server never answered it (libcurl does the same).
  for (bool fresh = false;; fresh = true) {
    const bool reused = !fresh && connection.Reusable(start);
    if (!reused) {
      error = connection.Open(options_, options, deadline);
      if (!error.ok()) break;
    }
    error = connection.Exchange(request, more, parser, transfer, options, deadline);
    if (!(error.kind == IoError::Kind::kConnection && reused && !parser.started())) break;
  }
  const absl::Duration elapsed = absl::Now() - start;

  const int http_status = parser.status();
  result.http_status = http_status;
  if (transfer.first_token != absl::InfiniteFuture()) result.time_to_first_token = transfer.first_token - start;
  result.headers = std::move(transfer.headers);
  result.request_id = RequestIdOf(result.headers);

  switch (error.kind) {
    case IoError::Kind::kNone:
      break;
    case IoError::Kind::kCancelled:
      result.message = CancelledError();
      return result;
    case IoError::Kind::kAborted:
      // The body stopped the transfer. An `error` event gets the request-id and is
      // retried when its type is; a malformed stream or an oversized body is not retried.
      if (const std::optional<ApiError>& api_error = transfer.assembler.error()) {
        ApiError api = *api_error;
        if (api.request_id.empty()) api.request_id = result.request_id;
        result.message = api.ToStatus();
        result.retryable = ShouldRetryStreamError(api.type);
      } else {
        result.message = *transfer.abort_status;
      }
      return result;
    case IoError::Kind::kBadUrl:
      result.message = absl::InvalidArgumentError(
          absl::StrCat("Messages API base URL ", options_.base_url, ": ", error.detail));
      return result;
    case IoError::Kind::kTimedOut:
      // libcurl's connect timeout is one too; only the attempt's own limit is
      // kDeadlineExceeded.
      if (options.attempt_timeout != absl::InfiniteDuration() &&
          elapsed + absl::Milliseconds(50) >= options.attempt_timeout) {
        result.message = absl::DeadlineExceededError(absl::StrCat(
            "Messages API attempt timed out after ", absl::FormatDuration(elapsed),
            http_status != 0 ? absl::StrCat(" (HTTP ", http_status, ")") : "",
            result.request_id.empty() ? "" : absl::StrCat(" (request-id ", result.request_id, ")")));
      } else {
        result.message = absl::UnavailableError(absl::StrCat("Messages API connection error: ", error.detail));
      }
      result.retryable = true;
      return result;
    case IoError::Kind::kConnection:
      result.message = absl::UnavailableError(absl::StrCat(
          "Messages API connection error: ", error.detail,
          http_status != 0 ? absl::StrCat(" (after HTTP ", http_status, ")") : "",
          result.request_id.empty() ? "" : absl::StrCat(" (request-id ", result.request_id, ")")));
      result.retryable = true;
      return result;
  }

  if (http_status < 200 || http_status >= 300) {
    ApiError api = ParseApiErrorBody(http_status, transfer.body, result.request_id);
    result.message = api.ToStatus();
    result.retryable = ShouldRetry(http_status, result.headers);
    if (result.request_id.empty()) result.request_id = api.request_id;
    return result;
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
