#include "console/watch_stream.h"

#include <civetweb.h>

#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/proto_json.h"
#include "console/http_errors.h"
#include "console/json_gateway.h"

namespace baton::console {
namespace {

// A WatchRun call read one event at a time by the HTTP thread: the reactor parks each
// event until Wait takes it, then reads the next, so a slow browser slows the stream
// (gRPC flow control) instead of growing a queue. A hold keeps OnDone back while the
// HTTP thread may still start a read. Thread-safe; destroy only after Wait returned
// kEnded or Abandon returned.
class WatchCall final : public grpc::ClientReadReactor<v1::RunEvent> {
 public:
  enum class Next { kEvent, kIdle, kEnded };

  WatchCall(v1::RunService::Stub& stub, const v1::WatchRunRequest& request, const std::string& bearer_token) {
    // No deadline: a watch lasts as long as the run; the browser going away or the
    // console stopping cancels it.
    if (!bearer_token.empty()) context_.AddMetadata("authorization", "Bearer " + bearer_token);
    stub.async()->WatchRun(&context_, &request, this);
    AddHold();
    StartRead(&event_);
    StartCall();
  }

  // Waits up to `timeout` for the next event (into *event) or the end of the call.
  Next Wait(absl::Duration timeout, v1::RunEvent* event) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return has_event_ || done_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
      if (!has_event_) return done_ ? Next::kEnded : Next::kIdle;
      *event = std::move(event_);
      has_event_ = false;
    }
    StartRead(&event_);  // the hold is still there: no read failed yet
    return Next::kEvent;
  }

  // REQUIRES: Wait returned kEnded.
  grpc::Status status() {
    absl::MutexLock lock(&mu_);
    return status_;
  }

  // Cancels the call and waits for its end.
  void Abandon() {
    context_.TryCancel();
    bool parked = false;
    {
      absl::MutexLock lock(&mu_);
      abandoned_ = true;
      // A parked event means no read is outstanding to fail and let the hold go.
      parked = has_event_;
      has_event_ = false;
    }
    if (parked) RemoveHold();
    absl::MutexLock lock(&mu_);
    mu_.Await(absl::Condition(&done_));
  }

  void OnReadDone(bool ok) override {
    bool release = !ok;  // the call is over (or cancelled): OnDone may follow
    if (ok) {
      absl::MutexLock lock(&mu_);
      if (abandoned_) {
        release = true;  // nobody will take it or read again
      } else {
        has_event_ = true;
      }
    }
    if (release) RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

 private:
  grpc::ClientContext context_;
  v1::RunEvent event_;  // written by gRPC while a read is outstanding (!has_event_)
  absl::Mutex mu_;
  bool has_event_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

bool ParseBool(const std::string& value, bool* out) {
  if (value == "true" || value == "1") return *out = true, true;
  if (value == "false" || value == "0" || value.empty()) return *out = false, true;
  return false;
}

// The URL-decoded value of `name` or `alt` in a query string; nullopt when neither.
std::optional<std::string> QueryValue(const std::string& query, const char* name, const char* alt) {
  for (const char* key : {name, alt}) {
    std::string buffer(query.size() + 1, '\0');
    int n = mg_get_var(query.data(), query.size(), key, buffer.data(), buffer.size());
    if (n >= 0) return buffer.substr(0, static_cast<size_t>(n));
  }
  return std::nullopt;
}

}  // namespace

std::string SseEvent(const std::string& event, const std::string& id, const std::string& data) {
  std::string out = absl::StrCat("event: ", event, "\n");
  if (!id.empty()) absl::StrAppend(&out, "id: ", id, "\n");
  for (absl::string_view line : absl::StrSplit(data, '\n')) {
    absl::StrAppend(&out, "data: ", line, "\n");
  }
  out += "\n";
  return out;
}

absl::StatusOr<v1::WatchRunRequest> WatchRequestOf(const std::string& query, const std::string& last_event_id) {
  v1::WatchRunRequest request;
  std::optional<std::string> run_id = QueryValue(query, "runId", "run_id");
  if (!run_id.has_value() || run_id->empty()) {
    return absl::InvalidArgumentError("runId: the query parameter is required (?runId=<run id>)");
  }
  request.set_run_id(*run_id);
  for (const auto& [name, alt, field] :
       {std::tuple{"liveText", "live_text", &v1::WatchRunRequest::set_live_text},
        std::tuple{"includeChildren", "include_children", &v1::WatchRunRequest::set_include_children}}) {
    bool value = false;
    std::optional<std::string> text = QueryValue(query, name, alt);
    if (text.has_value() && !ParseBool(*text, &value)) {
      return absl::InvalidArgumentError(absl::StrCat(name, ": \"", *text, "\" is not true or false"));
    }
    (request.*field)(value);
  }
  std::optional<std::string> after = last_event_id.empty() ? QueryValue(query, "afterSeq", "after_seq")
                                                           : std::optional<std::string>(last_event_id);
  if (after.has_value()) {
    int64_t seq = 0;
    if (!absl::SimpleAtoi(*after, &seq) || seq < 0) {
      return absl::InvalidArgumentError(absl::StrCat(last_event_id.empty() ? "afterSeq" : "Last-Event-ID", ": \"",
                                                     *after, "\" is not a sequence number"));
    }
    request.set_after_seq(seq);
  }
  return request;
}

void ServeWatch(v1::RunService::Stub& stub, const v1::WatchRunRequest& request, const std::string& bearer_token,
                HttpResponder& responder, const std::atomic<bool>& stopping, WatchOptions options) {
  WatchCall call(stub, request, bearer_token);
  bool open = responder.Start(200, {{"Content-Type", "text/event-stream"},
                                    {"Cache-Control", "no-cache"},
                                    {"X-Accel-Buffering", "no"}});  // proxies: do not buffer the stream
  // Waits in short slices so a stopping console ends the stream soon.
  const absl::Duration slice = std::min(options.ping_interval, absl::Seconds(1));
  absl::Time last_write = absl::Now();
  v1::RunEvent event;
  while (open) {
    if (stopping.load()) break;
    WatchCall::Next next = call.Wait(slice, &event);
    if (next == WatchCall::Next::kEnded) {
      const grpc::Status status = call.status();
      responder.Write(SseEvent("end", "", status.ok() ? std::string(R"({"code":"OK"})")
                                                      : "{\"error\":" + ErrorObjectJson(FromGrpcStatus(status)) + "}"));
      return;
    }
    if (next == WatchCall::Next::kEvent) {
      // Only the watched run's durable events resume a stream: after_seq is its seq.
      const bool resumable = event.seq() > 0 && event.run_id() == request.run_id();
      open = responder.Write(SseEvent("run", resumable ? std::to_string(event.seq()) : "", MessageToJsonLine(event)));
      last_write = absl::Now();
    } else if (absl::Now() - last_write >= options.ping_interval) {
      open = responder.Write(": ping\n\n");
      last_write = absl::Now();
    }
  }
  // The browser went away or the console stops: nobody reads what is left.
  call.Abandon();
}

}  // namespace baton::console
