#include "mcp-bridge/http_transport.h"

#include <curl/curl.h>

#include <mutex>

#include <nlohmann/json.hpp>

#include "absl/strings/ascii.h"
#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/strip.h"
#include "common/logging.h"
#include "mcp-bridge/json_rpc.h"
#include "workers/model/sse_parser.h"

namespace baton::mcp {

using json = nlohmann::json;

namespace {

constexpr size_t kMaxErrorBody = 4096;
constexpr size_t kMaxJsonBody = size_t{64} << 20;
// The server's GET stream is reopened with backoff when it keeps failing fast.
constexpr absl::Duration kMaxGetBackoff = absl::Seconds(30);

void GlobalInitOnce() {
  static std::once_flag once;
  std::call_once(once, [] { curl_global_init(CURL_GLOBAL_DEFAULT); });
}

bool Is2xx(long status) { return status >= 200 && status < 300; }

std::string Excerpt(const std::string& s) {
  std::string out = s.size() > 200 ? s.substr(0, 200) + "..." : s;
  absl::StripAsciiWhitespace(&out);
  return out;
}

// `relative` resolved against `base`, as a browser would.
std::string ResolveUrl(const std::string& base, const std::string& relative) {
  CURLU* u = curl_url();
  std::string out = relative;
  if (curl_url_set(u, CURLUPART_URL, base.c_str(), 0) == CURLUE_OK &&
      curl_url_set(u, CURLUPART_URL, relative.c_str(), 0) == CURLUE_OK) {
    char* resolved = nullptr;
    if (curl_url_get(u, CURLUPART_URL, &resolved, 0) == CURLUE_OK) {
      out = resolved;
      curl_free(resolved);
    }
  }
  curl_url_cleanup(u);
  return out;
}

}  // namespace

struct HttpTransport::Transfer {
  enum class Kind { kPost, kGet, kLegacyStream };

  Transfer(HttpTransport* o, Kind k) : owner(o), kind(k) {}
  ~Transfer() {
    if (easy != nullptr) curl_easy_cleanup(easy);
    if (headers != nullptr) curl_slist_free_all(headers);
  }

  HttpTransport* owner;
  Kind kind;
  CURL* easy = nullptr;
  curl_slist* headers = nullptr;
  std::string url;
  std::string body;     // the POST body; curl reads it in place
  std::string method;   // of the posted message
  std::string id_json;  // the request this transfer should bring the answer to
  bool answered = false;
  int attempt = 0;          // resume attempts so far (GET)
  absl::Time started = absl::Now();

  long status = 0;
  std::string content_type;
  bool decided = false;  // whether the body is SSE is known
  bool sse = false;
  std::string raw;  // a JSON body, or the start of an error body
  worker::SseParser parser;
  bool delivered_any = false;
};

HttpTransport::HttpTransport(HttpTransportOptions options) : options_(std::move(options)) { GlobalInitOnce(); }

HttpTransport::~HttpTransport() {
  Close();
  if (multi_ != nullptr) curl_multi_cleanup(static_cast<CURLM*>(multi_));
}

std::string HttpTransport::kind() const {
  absl::MutexLock lock(&mu_);
  return legacy_ ? "sse" : "streamable_http";
}

std::string HttpTransport::session_id() const {
  absl::MutexLock lock(&mu_);
  return session_id_;
}

void HttpTransport::SetProtocolVersion(const std::string& version) {
  absl::MutexLock lock(&mu_);
  protocol_version_ = version;
}

absl::Status HttpTransport::Start(Callbacks callbacks) {
  callbacks_ = std::move(callbacks);
  multi_ = curl_multi_init();
  if (multi_ == nullptr) return absl::InternalError("curl_multi_init failed");
  {
    absl::MutexLock lock(&mu_);
    legacy_ = options_.legacy_only;
  }
  thread_ = std::thread([this] { Loop(); });
  return absl::OkStatus();
}

absl::Status HttpTransport::Send(const std::string& message) {
  Outgoing out;
  out.body = message;
  json parsed = json::parse(message, nullptr, false);
  if (parsed.is_object()) {
    if (parsed.contains("method") && parsed["method"].is_string()) out.method = parsed["method"].get<std::string>();
    if (!out.method.empty() && parsed.contains("id")) out.id_json = parsed["id"].dump();
    // W3C trace context in HTTP's own place as well, for servers and proxies that read
    // only headers (docs/mcp-bridge.md, "Tracing").
    auto params = parsed.find("params");
    if (params != parsed.end() && params->is_object()) {
      auto meta = params->find("_meta");
      if (meta != params->end() && meta->is_object()) {
        auto traceparent = meta->find("traceparent");
        if (traceparent != meta->end() && traceparent->is_string()) out.traceparent = traceparent->get<std::string>();
        auto tracestate = meta->find("tracestate");
        if (tracestate != meta->end() && tracestate->is_string()) out.tracestate = tracestate->get<std::string>();
      }
    }
  }
  {
    absl::MutexLock lock(&mu_);
    if (failed_ || closing_ || stop_) return absl::UnavailableError("the HTTP connection is closed");
    queue_.push_back(std::move(out));
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  return absl::OkStatus();
}

void* HttpTransport::BaseHeaders(bool json_body, bool accept_json) const {
  curl_slist* h = nullptr;
  if (json_body) h = curl_slist_append(h, "Content-Type: application/json");
  h = curl_slist_append(h, accept_json ? "Accept: application/json, text/event-stream" : "Accept: text/event-stream");
  {
    absl::MutexLock lock(&mu_);
    if (!session_id_.empty() && !legacy_) h = curl_slist_append(h, absl::StrCat("Mcp-Session-Id: ", session_id_).c_str());
    if (!protocol_version_.empty()) {
      h = curl_slist_append(h, absl::StrCat("MCP-Protocol-Version: ", protocol_version_).c_str());
    }
  }
  for (const auto& [name, value] : options_.headers) h = curl_slist_append(h, absl::StrCat(name, ": ", value).c_str());
  // No "Expect: 100-continue" round trip on larger bodies.
  h = curl_slist_append(h, "Expect:");
  return h;
}

size_t HttpTransport::OnHeader(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  absl::string_view line(data, size * n);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (absl::StartsWith(line, "HTTP/")) {
    // A new response (after a 100 or a redirect): forget the previous one's headers.
    t->content_type.clear();
    t->status = 0;
    size_t space = line.find(' ');
    if (space != absl::string_view::npos) {
      int status = 0;
      if (absl::SimpleAtoi(line.substr(space + 1, 3), &status)) t->status = status;
    }
    return size * n;
  }
  if (line.empty()) {
    // The end of a header block: the server's GET stream is open once its
    // headers say so (the server registers the stream before answering).
    if (t->kind == Transfer::Kind::kGet && t->id_json.empty() && Is2xx(t->status)) t->owner->ReleaseHeld();
    return size * n;
  }
  size_t colon = line.find(':');
  if (colon == absl::string_view::npos) return size * n;
  std::string name = absl::AsciiStrToLower(line.substr(0, colon));
  std::string value(absl::StripAsciiWhitespace(line.substr(colon + 1)));
  if (name == "content-type") {
    t->content_type = absl::AsciiStrToLower(value);
  } else if (name == "mcp-session-id" && t->kind == Transfer::Kind::kPost && t->method == "initialize" &&
             Is2xx(t->status)) {
    // Known before the answer's body, so the next message carries it.
    absl::MutexLock lock(&t->owner->mu_);
    t->owner->session_id_ = value;
  }
  return size * n;
}

size_t HttpTransport::OnBody(char* data, size_t size, size_t n, void* user) {
  auto* t = static_cast<Transfer*>(user);
  const size_t bytes = size * n;
  if (!Is2xx(t->status)) {
    if (t->raw.size() < kMaxErrorBody) t->raw.append(data, std::min(bytes, kMaxErrorBody - t->raw.size()));
    return bytes;
  }
  if (!t->decided) {
    t->decided = true;
    t->sse = absl::StartsWith(t->content_type, "text/event-stream");
  }
  if (t->sse) {
    t->owner->DeliverSseEvents(t, data, bytes);
    return bytes;
  }
  if (t->raw.size() + bytes > kMaxJsonBody) return 0;  // aborts the transfer
  t->raw.append(data, bytes);
  return bytes;
}

void HttpTransport::DeliverSseEvents(Transfer* t, const char* data, size_t n) {
  std::vector<worker::SseEvent> events;
  absl::Status s = t->parser.Feed(std::string_view(data, n), &events);
  if (!s.ok()) {
    BATON_LOG(WARNING) << "[" << options_.log_name << "] SSE stream: " << s.message();
  }
  for (const worker::SseEvent& e : events) {
    if (e.retry.has_value()) retry_ = absl::Milliseconds(*e.retry);
    if (t->kind == Transfer::Kind::kLegacyStream && e.event == "endpoint") {
      std::string endpoint = ResolveUrl(options_.url, std::string(absl::StripAsciiWhitespace(e.data)));
      BATON_LOG(INFO) << "[" << options_.log_name << "] legacy HTTP+SSE endpoint " << endpoint;
      // curl refuses new transfers from inside its callbacks: the loop posts them.
      absl::MutexLock lock(&mu_);
      legacy_endpoint_ = endpoint;
      queue_.insert(queue_.begin(), std::make_move_iterator(legacy_waiting_.begin()),
                    std::make_move_iterator(legacy_waiting_.end()));
      legacy_waiting_.clear();
      continue;
    }
    if (e.event != "message" || e.data.empty()) continue;  // priming events carry only an id
    Deliver(t, e.data);
  }
}

void HttpTransport::Deliver(Transfer* t, const std::string& data) {
  t->delivered_any = true;
  if (!t->id_json.empty() && !t->answered) {
    json m = json::parse(data, nullptr, false);
    if (m.is_object() && !m.contains("method") && m.contains("id") && m["id"].dump() == t->id_json) {
      t->answered = true;
    }
  }
  // A request's stream (its POST, or the GET resuming it) carries what the server
  // sends while answering that request: an elicitation belongs to that tool call.
  std::optional<int64_t> related;
  if (!t->id_json.empty() && t->kind != Transfer::Kind::kLegacyStream) {
    int64_t id = 0;
    if (absl::SimpleAtoi(t->id_json, &id)) related = id;
  }
  callbacks_.on_message(data, related);
}

void HttpTransport::FailRequest(const std::string& id_json, const std::string& why, bool delivered) {
  if (id_json.empty()) return;
  json id = json::parse(id_json, nullptr, false);
  json error = {{"jsonrpc", "2.0"}, {"id", id}, {"error", {{"code", delivered ? -32000 : kNotDelivered}, {"message", why}}}};
  BATON_LOG(WARNING) << "[" << options_.log_name << "] request " << id_json << " failed: " << why;
  callbacks_.on_message(error.dump(), std::nullopt);
}

void HttpTransport::Fail(const std::string& why) {
  {
    absl::MutexLock lock(&mu_);
    if (failed_ || closing_) return;
    failed_ = true;
  }
  BATON_LOG(WARNING) << "[" << options_.log_name << "] " << why;
  if (callbacks_.on_closed) callbacks_.on_closed(absl::UnavailableError(why));
}

void HttpTransport::AddTransfer(std::unique_ptr<Transfer> t) {
  CURL* easy = curl_easy_init();
  t->easy = easy;
  curl_easy_setopt(easy, CURLOPT_URL, t->url.c_str());
  curl_easy_setopt(easy, CURLOPT_HTTPHEADER, t->headers);
  curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(easy, CURLOPT_CONNECTTIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.connect_timeout)));
  curl_easy_setopt(easy, CURLOPT_TCP_KEEPALIVE, 1L);
  curl_easy_setopt(easy, CURLOPT_HEADERFUNCTION, &HttpTransport::OnHeader);
  curl_easy_setopt(easy, CURLOPT_HEADERDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, &HttpTransport::OnBody);
  curl_easy_setopt(easy, CURLOPT_WRITEDATA, t.get());
  curl_easy_setopt(easy, CURLOPT_PRIVATE, t.get());
  if (t->kind == Transfer::Kind::kPost) {
    curl_easy_setopt(easy, CURLOPT_POST, 1L);
    curl_easy_setopt(easy, CURLOPT_POSTFIELDS, t->body.data());
    curl_easy_setopt(easy, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(t->body.size()));
  }
  t->started = absl::Now();
  curl_multi_add_handle(static_cast<CURLM*>(multi_), easy);
  transfers_[easy] = std::move(t);
}

void HttpTransport::StartPost(Outgoing message) {
  std::string url;
  {
    absl::MutexLock lock(&mu_);
    if (legacy_) {
      if (legacy_endpoint_.empty()) {
        legacy_waiting_.push_back(std::move(message));
        return;
      }
      url = legacy_endpoint_;
    } else {
      url = options_.url;
    }
  }
  if (message.method == "notifications/initialized") {
    // What follows waits for the server's GET stream (opened once this is through).
    if (options_.open_get_stream && !get_stream_open_) hold_until_ = absl::Now() + options_.get_stream_wait;
  } else if (hold_until_.has_value()) {
    held_.push_back(std::move(message));
    return;
  }
  auto t = std::make_unique<Transfer>(this, Transfer::Kind::kPost);
  t->url = std::move(url);
  t->body = std::move(message.body);
  t->method = std::move(message.method);
  t->id_json = std::move(message.id_json);
  t->headers = static_cast<curl_slist*>(BaseHeaders(true, true));
  if (!message.traceparent.empty() && message.traceparent.find_first_of("\r\n") == std::string::npos) {
    t->headers = curl_slist_append(t->headers, absl::StrCat("traceparent: ", message.traceparent).c_str());
    if (!message.tracestate.empty() && message.tracestate.find_first_of("\r\n") == std::string::npos) {
      t->headers = curl_slist_append(t->headers, absl::StrCat("tracestate: ", message.tracestate).c_str());
    }
  }
  AddTransfer(std::move(t));
}

void HttpTransport::ReleaseHeld() {
  hold_until_.reset();
  if (held_.empty()) return;
  // Possibly inside a curl callback, where no transfer may start: the loop posts them.
  absl::MutexLock lock(&mu_);
  queue_.insert(queue_.begin(), std::make_move_iterator(held_.begin()), std::make_move_iterator(held_.end()));
  held_.clear();
}

void HttpTransport::ScheduleGet(absl::Duration delay, std::string last_event_id, std::string resume_id_json,
                                int attempt) {
  auto t = std::make_unique<Transfer>(this, Transfer::Kind::kGet);
  t->url = options_.url;
  t->id_json = std::move(resume_id_json);
  t->attempt = attempt;
  curl_slist* h = static_cast<curl_slist*>(BaseHeaders(false, false));
  if (!last_event_id.empty()) h = curl_slist_append(h, absl::StrCat("Last-Event-ID: ", last_event_id).c_str());
  t->headers = h;
  if (t->id_json.empty()) get_stream_open_ = true;
  scheduled_.emplace(absl::Now() + delay, std::move(t));
}

void HttpTransport::StartGet(std::string last_event_id, std::string resume_id_json, int attempt) {
  ScheduleGet(absl::ZeroDuration(), std::move(last_event_id), std::move(resume_id_json), attempt);
}

void HttpTransport::StartLegacyStream() {
  auto t = std::make_unique<Transfer>(this, Transfer::Kind::kLegacyStream);
  t->url = options_.url;
  t->headers = static_cast<curl_slist*>(BaseHeaders(false, false));
  AddTransfer(std::move(t));
}

void HttpTransport::Finish(Transfer* t, int curl_code) {
  {
    absl::MutexLock lock(&mu_);
    if (closing_ || stop_) return;
  }
  const bool ok = curl_code == CURLE_OK;
  const std::string curl_error = ok ? "" : curl_easy_strerror(static_cast<CURLcode>(curl_code));
  const absl::Duration retry = retry_.value_or(options_.default_retry);
  // The id an interrupted stream resumes from: the last one it gave.
  const std::string last_id = t->parser.last_event_id();

  switch (t->kind) {
    case Transfer::Kind::kPost: {
      // No GET stream will follow a refused notifications/initialized.
      if (t->method == "notifications/initialized" && !Is2xx(t->status)) ReleaseHeld();
      bool legacy;
      {
        absl::MutexLock lock(&mu_);
        legacy = legacy_;
      }
      if (t->status == 0) {
        // Refused or unresolvable: the request certainly did not arrive (it can go
        // to the next connection); other failures leave that unknown.
        const bool not_delivered = curl_code == CURLE_COULDNT_CONNECT || curl_code == CURLE_COULDNT_RESOLVE_HOST;
        const std::string why = absl::StrCat("cannot reach ", t->url, ": ", curl_error);
        if (not_delivered) FailRequest(t->id_json, why, /*delivered=*/false);
        Fail(why);
        return;
      }
      if (Is2xx(t->status)) {
        if (legacy) return;  // the answer comes on the SSE stream
        if (t->sse) {
          if (!t->answered && !t->id_json.empty()) {
            if (!last_id.empty()) {
              // The stream ended (gracefully or not) before the answer: resume it.
              ScheduleGet(retry, last_id, t->id_json, 1);
            } else {
              FailRequest(t->id_json, ok ? "the server ended the stream without answering"
                                         : absl::StrCat("the stream broke: ", curl_error));
            }
          }
        } else if (!ok) {
          FailRequest(t->id_json, absl::StrCat("the response broke: ", curl_error));
        } else if (!t->raw.empty() && !absl::StrContains(t->content_type, "json") && !t->id_json.empty()) {
          FailRequest(t->id_json, absl::StrCat("unexpected content type \"", t->content_type, "\""));
        } else if (!t->raw.empty()) {
          Deliver(t, t->raw);
          if (!t->answered) FailRequest(t->id_json, "the response did not answer the request");
        } else if (!t->id_json.empty()) {
          FailRequest(t->id_json, absl::StrCat("HTTP ", t->status, " without an answer"));
        }
        if (t->method == "notifications/initialized") {
          if (options_.open_get_stream && !get_stream_open_) {
            StartGet("", "", 0);
          } else {
            ReleaseHeld();
          }
        }
        return;
      }
      // HTTP errors.
      if (!legacy && t->method == "initialize" && !options_.legacy_only &&
          (t->status == 400 || t->status == 404 || t->status == 405)) {
        BATON_LOG(INFO) << "[" << options_.log_name << "] POST initialize got HTTP " << t->status
                        << "; trying the legacy HTTP+SSE transport";
        {
          absl::MutexLock lock(&mu_);
          legacy_ = true;
          session_id_.clear();
        }
        legacy_waiting_.push_back(Outgoing{t->body, t->method, t->id_json});
        StartLegacyStream();
        return;
      }
      bool has_session;
      {
        absl::MutexLock lock(&mu_);
        has_session = !session_id_.empty();
      }
      // Servers say "unknown session" with 404, some with 400.
      const bool session_lost =
          t->status == 404 || (t->status == 400 && absl::StrContains(absl::AsciiStrToLower(t->raw), "session"));
      if (session_lost && has_session && !legacy) {
        FailRequest(t->id_json, "the session expired", /*delivered=*/false);
        Fail(absl::StrCat("the server no longer knows the session (HTTP ", t->status, "); initializing a new one"));
        return;
      }
      if (!t->id_json.empty()) {
        FailRequest(t->id_json, absl::StrCat("HTTP ", t->status, ": ", Excerpt(t->raw)));
      } else {
        BATON_LOG(WARNING) << "[" << options_.log_name << "] POST " << t->method << " got HTTP " << t->status << ": "
                           << Excerpt(t->raw);
      }
      return;
    }

    case Transfer::Kind::kGet: {
      if (!t->id_json.empty()) {
        // Resuming a request's stream.
        if (t->answered) return;
        const std::string resume_from = last_id.empty() ? "" : last_id;
        if (t->status != 0 && !Is2xx(t->status)) {
          FailRequest(t->id_json, absl::StrCat("cannot resume the stream: HTTP ", t->status));
        } else if (t->attempt >= options_.max_resume_attempts) {
          FailRequest(t->id_json, "the stream kept ending without an answer");
        } else {
          ScheduleGet(retry, resume_from, t->id_json, t->attempt + 1);
        }
        return;
      }
      // The server's own stream.
      get_stream_open_ = false;
      ReleaseHeld();  // if it never opened: the posts go without it
      if (t->status != 0 && !Is2xx(t->status)) {
        BATON_LOG(INFO) << "[" << options_.log_name << "] the server offers no GET stream (HTTP " << t->status << ")";
        return;
      }
      // Ended or broke: open it again, from where it stopped. A stream that fails
      // fast and says nothing backs off.
      absl::Duration delay = retry;
      if (!t->delivered_any && absl::Now() - t->started < absl::Seconds(1)) {
        get_backoff_ = std::min(std::max(get_backoff_ * 2, retry), kMaxGetBackoff);
        delay = get_backoff_;
      } else {
        get_backoff_ = absl::ZeroDuration();
      }
      ScheduleGet(delay, last_id, "", 0);
      return;
    }

    case Transfer::Kind::kLegacyStream:
      if (t->status != 0 && !Is2xx(t->status)) {
        Fail(absl::StrCat("legacy HTTP+SSE: GET ", t->url, " got HTTP ", t->status));
      } else {
        Fail(absl::StrCat("legacy HTTP+SSE: the stream ended", ok ? "" : absl::StrCat(" (", curl_error, ")")));
      }
      return;
  }
}

void HttpTransport::Loop() {
  CURLM* multi = static_cast<CURLM*>(multi_);
  {
    bool legacy;
    {
      absl::MutexLock lock(&mu_);
      legacy = legacy_;
    }
    if (legacy) StartLegacyStream();
  }
  while (true) {
    std::deque<Outgoing> outgoing;
    {
      absl::MutexLock lock(&mu_);
      if (stop_) break;
      outgoing.swap(queue_);
    }
    const absl::Time now = absl::Now();
    if (hold_until_.has_value() && now >= *hold_until_) {
      BATON_LOG(WARNING) << "[" << options_.log_name << "] the server's GET stream did not open within "
                         << absl::FormatDuration(options_.get_stream_wait) << "; sending without it";
      hold_until_.reset();
      // Older than what was just taken from the queue: they go first.
      outgoing.insert(outgoing.begin(), std::make_move_iterator(held_.begin()), std::make_move_iterator(held_.end()));
      held_.clear();
    }
    for (Outgoing& o : outgoing) StartPost(std::move(o));
    while (!scheduled_.empty() && scheduled_.begin()->first <= now) {
      std::unique_ptr<Transfer> t = std::move(scheduled_.begin()->second);
      scheduled_.erase(scheduled_.begin());
      AddTransfer(std::move(t));
    }
    int running = 0;
    curl_multi_perform(multi, &running);
    int left = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi, &left)) {
      if (msg->msg != CURLMSG_DONE) continue;
      CURL* easy = msg->easy_handle;
      const CURLcode code = msg->data.result;
      curl_multi_remove_handle(multi, easy);
      auto it = transfers_.find(easy);
      if (it == transfers_.end()) continue;
      std::unique_ptr<Transfer> t = std::move(it->second);
      transfers_.erase(it);
      Finish(t.get(), code);
    }
    int timeout_ms = 1000;
    if (!scheduled_.empty()) {
      const int64_t until = absl::ToInt64Milliseconds(scheduled_.begin()->first - absl::Now());
      timeout_ms = static_cast<int>(std::clamp<int64_t>(until, 0, 1000));
    }
    if (hold_until_.has_value()) {
      const int64_t until = absl::ToInt64Milliseconds(*hold_until_ - absl::Now());
      timeout_ms = std::min(timeout_ms, static_cast<int>(std::clamp<int64_t>(until, 0, 1000)));
    }
    {
      absl::MutexLock lock(&mu_);
      if (!queue_.empty() || stop_) timeout_ms = 0;
    }
    if (timeout_ms > 0) curl_multi_poll(multi, nullptr, 0, timeout_ms, nullptr);
  }
  for (auto& [easy, t] : transfers_) curl_multi_remove_handle(multi, static_cast<CURL*>(easy));
  transfers_.clear();
  scheduled_.clear();
}

void HttpTransport::Close() {
  std::string session;
  bool legacy;
  {
    absl::MutexLock lock(&mu_);
    if (closing_) return;
    closing_ = true;
    session = failed_ ? "" : session_id_;
    legacy = legacy_;
  }
  if (!thread_.joinable()) return;
  if (!session.empty() && !legacy) {
    // Ends the session at the server (it may answer 405: then it keeps it).
    CURL* easy = curl_easy_init();
    curl_slist* h = static_cast<curl_slist*>(BaseHeaders(false, true));
    curl_easy_setopt(easy, CURLOPT_URL, options_.url.c_str());
    curl_easy_setopt(easy, CURLOPT_CUSTOMREQUEST, "DELETE");
    curl_easy_setopt(easy, CURLOPT_HTTPHEADER, h);
    curl_easy_setopt(easy, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(easy, CURLOPT_TIMEOUT_MS, static_cast<long>(absl::ToInt64Milliseconds(options_.delete_timeout)));
    curl_easy_setopt(easy, CURLOPT_WRITEFUNCTION, +[](char*, size_t size, size_t n, void*) { return size * n; });
    CURLcode code = curl_easy_perform(easy);
    long status = 0;
    curl_easy_getinfo(easy, CURLINFO_RESPONSE_CODE, &status);
    BATON_LOG(DEBUG) << "[" << options_.log_name << "] DELETE session: " << (code == CURLE_OK ? "" : curl_easy_strerror(code))
                     << " HTTP " << status;
    curl_easy_cleanup(easy);
    curl_slist_free_all(h);
  }
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  curl_multi_wakeup(static_cast<CURLM*>(multi_));
  thread_.join();
}

}  // namespace baton::mcp
