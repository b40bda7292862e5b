#include "console/watch_stream.h"

#include <civetweb.h>

#include <type_traits>

#include <grpcpp/client_context.h>

#include "absl/base/thread_annotations.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_split.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"
#include "common/proto_json.h"
#include "common/run_watch.h"
#include "console/http_errors.h"
#include "console/json_gateway.h"

namespace baton::console {
namespace {

// A watch call (Message: RunEventBatch for WatchRunBatched, RunEvent for WatchRun) read
// one message at a time by the HTTP thread: the reactor parks each message until Wait
// takes it, then reads the next, so a slow browser slows the stream (gRPC flow control)
// instead of growing a queue. A hold keeps OnDone back while the HTTP thread may still
// start a read. Thread-safe; destroy only after Wait returned kEnded or Abandon returned.
template <typename Message>
class WatchCall final : public grpc::ClientReadReactor<Message> {
 public:
  enum class Next { kMessage, kIdle, kEnded };

  WatchCall(v1::RunService::Stub& stub, const v1::WatchRunRequest& request, const std::string& bearer_token) {
    // No deadline: a watch lasts as long as the run; the browser going away or the
    // console stopping cancels it.
    if (!bearer_token.empty()) context_.AddMetadata("authorization", "Bearer " + bearer_token);
    if constexpr (std::is_same_v<Message, v1::RunEventBatch>) {
      stub.async()->WatchRunBatched(&context_, &request, this);
    } else {
      stub.async()->WatchRun(&context_, &request, this);
    }
    this->AddHold();
    this->StartRead(&message_);
    this->StartCall();
  }

  // Waits up to `timeout` for the next message (into *message) or the end of the call.
  Next Wait(absl::Duration timeout, Message* message) {
    {
      absl::MutexLock lock(&mu_);
      auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return has_message_ || done_; };
      mu_.AwaitWithTimeout(absl::Condition(&ready), timeout);
      if (!has_message_) return done_ ? Next::kEnded : Next::kIdle;
      *message = std::move(message_);
      has_message_ = false;
    }
    this->StartRead(&message_);  // the hold is still there: no read failed yet
    return Next::kMessage;
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
      // A parked message means no read is outstanding to fail and let the hold go.
      parked = has_message_;
      has_message_ = false;
    }
    if (parked) this->RemoveHold();
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
        has_message_ = true;
      }
    }
    if (release) this->RemoveHold();
  }

  void OnDone(const grpc::Status& status) override {
    absl::MutexLock lock(&mu_);
    status_ = status;
    done_ = true;
  }

 private:
  grpc::ClientContext context_;
  Message message_;  // written by gRPC while a read is outstanding (!has_message_)
  absl::Mutex mu_;
  bool has_message_ ABSL_GUARDED_BY(mu_) = false;
  bool done_ ABSL_GUARDED_BY(mu_) = false;
  bool abandoned_ ABSL_GUARDED_BY(mu_) = false;
  grpc::Status status_ ABSL_GUARDED_BY(mu_);
};

// What one watch call left the stream to do.
enum class Streamed {
  kDone,       // it wrote the end event, or the browser went away or the console stops
  kFallBack,   // WatchRunBatched was refused before its first message (an older orchestrator)
};

// Copies one watch call's events to the browser, a message's events in one write.
// `open` and `last_write` go on from one call to the next.
template <typename Message>
Streamed StreamCall(v1::RunService::Stub& stub, const v1::WatchRunRequest& request, const std::string& bearer_token,
                    HttpResponder& responder, const std::atomic<bool>& stopping, const WatchOptions& options,
                    bool& open, absl::Time& last_write) {
  WatchCall<Message> call(stub, request, bearer_token);
  // Waits in short slices so a stopping console ends the stream soon.
  const absl::Duration slice = std::min(options.ping_interval, absl::Seconds(1));
  bool delivered = false;
  Message message;
  while (open) {
    if (stopping.load()) break;
    const auto next = call.Wait(slice, &message);
    if (next == WatchCall<Message>::Next::kEnded) {
      const grpc::Status status = call.status();
      if (std::is_same_v<Message, v1::RunEventBatch> && !delivered && PredatesBatchedWatch(status)) {
        return Streamed::kFallBack;
      }
      responder.Write(SseEvent("end", "", status.ok() ? std::string(R"({"code":"OK"})")
                                                      : "{\"error\":" + ErrorObjectJson(FromGrpcStatus(status)) + "}"));
      return Streamed::kDone;
    }
    if (next == WatchCall<Message>::Next::kMessage) {
      delivered = true;
      std::string events;
      for (const v1::RunEvent& event : EventsOf(message)) {
        // Only the watched run's durable events resume a stream: after_seq is its seq.
        const bool resumable = event.seq() > 0 && event.run_id() == request.run_id();
        events += SseEvent("run", resumable ? std::to_string(event.seq()) : "", MessageToJsonLine(event));
      }
      open = responder.Write(events);
      last_write = absl::Now();
    } else if (absl::Now() - last_write >= options.ping_interval) {
      open = responder.Write(": ping\n\n");
      last_write = absl::Now();
    }
  }
  // The browser went away or the console stops: nobody reads what is left.
  call.Abandon();
  return Streamed::kDone;
}

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
  bool open = responder.Start(200, {{"Content-Type", "text/event-stream"},
                                    {"Cache-Control", "no-cache"},
                                    {"X-Accel-Buffering", "no"}});  // proxies: do not buffer the stream
  absl::Time last_write = absl::Now();
  if (StreamCall<v1::RunEventBatch>(stub, request, bearer_token, responder, stopping, options, open, last_write) ==
      Streamed::kFallBack) {
    StreamCall<v1::RunEvent>(stub, request, bearer_token, responder, stopping, options, open, last_write);
  }
}

}  // namespace baton::console
