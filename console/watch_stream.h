// GET /api/v1/RunService/WatchRun as server-sent events: one `event: run` per RunEvent
// (`id: <seq>` for the watched run's durable events, so EventSource's Last-Event-ID
// resumes where it stopped), `: ping` while idle, and `event: end` when the gRPC stream
// ends. The gateway follows the run with WatchRunBatched (WatchRun on an orchestrator
// without it) and sends the events of each message in one write. The gRPC call is
// cancelled when the browser goes away (a write fails) or the console stops.
#ifndef BATON_CONSOLE_WATCH_STREAM_H_
#define BATON_CONSOLE_WATCH_STREAM_H_

#include <atomic>
#include <string>
#include <string_view>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "baton/v1/run_service.grpc.pb.h"
#include "console/http.h"

namespace baton::console {

// One server-sent event: "event: E\nid: I\ndata: D\n\n" (no id line when `id` is
// empty; a `data` with newlines becomes several data lines).
std::string SseEvent(const std::string& event, const std::string& id, const std::string& data);

// The WatchRunRequest of a query string (runId, afterSeq, liveText, includeChildren;
// both lowerCamelCase and snake_case names) and a Last-Event-ID header (which wins
// over afterSeq). INVALID_ARGUMENT naming the parameter.
absl::StatusOr<v1::WatchRunRequest> WatchRequestOf(const std::string& query, const std::string& last_event_id);

struct WatchOptions {
  absl::Duration ping_interval = absl::Seconds(15);  // Default: 15 s
};

// Streams the run's events to `responder` until the gRPC stream ends, the browser goes
// away or `stopping` becomes true. Blocks the calling (HTTP server) thread.
void ServeWatch(v1::RunService::Stub& stub, const v1::WatchRunRequest& request, const std::string& bearer_token,
                HttpResponder& responder, const std::atomic<bool>& stopping, WatchOptions options = {});

}  // namespace baton::console

#endif  // BATON_CONSOLE_WATCH_STREAM_H_
