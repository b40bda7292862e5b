// ModelSimulator: the Messages API as baton-model-sim serves it, without sockets.
// It routes an HttpRequest to /v1/messages, /v1/messages/count_tokens or the
// /_sim/* control endpoints and returns the HttpResponse to write. HttpServer
// (or a test) does the I/O.
#ifndef BATON_WORKERS_MODEL_SIM_SIMULATOR_H_
#define BATON_WORKERS_MODEL_SIM_SIMULATOR_H_

#include <atomic>
#include <cstdint>
#include <deque>
#include <map>
#include <string>

#include "absl/base/thread_annotations.h"
#include "absl/status/status.h"
#include "absl/synchronization/mutex.h"
#include "workers/model_sim/http_message.h"
#include "workers/model_sim/prompt_cache.h"
#include "workers/model_sim/request_view.h"
#include "workers/model_sim/script.h"
#include "workers/model_sim/validation.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

struct SimulatorOptions {
  // When non-empty, /v1/* requests must carry it as `x-api-key` (or
  // `Authorization: Bearer <key>`), else 401 authentication_error. Default: "".
  std::string api_key;
  // Added to the delay of every /v1/messages reply. Default: 0.
  int latency_ms = 0;
  // /v1/messages requests per second (a token bucket holding one second's worth);
  // past it: 429 rate_limit_error with retry-after. Every /v1/messages answer carries
  // anthropic-ratelimit-requests-{limit,remaining,reset}. Default: 0 (no limit).
  int rate_limit_rps = 0;
  // The bytes (as received) of the messages whose parse, checks and derived figures
  // are kept for the next request of their conversation (request_view.h); their parsed
  // forms take a few times more. 0: every request is read in full. Default: 32 MiB.
  size_t message_cache_bytes = size_t{32} << 20;
  // The request log (GET /_sim/requests) keeps the latest 10,000 /v1/messages requests
  // and at most this many bytes of their bodies. Default: 64 MiB.
  size_t request_log_bytes = size_t{64} << 20;
};

// Thread-safe: Handle() may run on many connection threads at once.
class ModelSimulator {
 public:
  explicit ModelSimulator(SimulatorOptions options);
  ModelSimulator(const ModelSimulator&) = delete;
  ModelSimulator& operator=(const ModelSimulator&) = delete;

  // Takes the request: a /v1/messages body moves into the request log.
  HttpResponse Handle(HttpRequest request);

  // Queues the replies of a {"replies":[...]} script (as POST /_sim/script does).
  absl::Status AddScript(const Json& script);

  // The messages kept between requests (how many were reused, for tests).
  MessageCache::Stats message_cache_stats() const { return message_cache_.stats(); }

 private:
  HttpResponse HandleMessages(HttpRequest& request);
  HttpResponse HandleCountTokens(const HttpRequest& request);
  HttpResponse HandleControl(const HttpRequest& request);
  HttpResponse Route(HttpRequest& request);

  // Auth and anthropic-version checks shared by the /v1 endpoints.
  std::optional<ApiError> CheckHeaders(const HttpRequest& request) const;
  // Headers, then the body read into `body` and checked; the first error.
  std::optional<ApiError> ReadBody(const HttpRequest& request, RequestKind kind, std::optional<RequestView>& body);
  // Builds the 200 reply (JSON or SSE) or the error of `script`.
  // `input_tokens`: EstimateInputTokens(body).
  HttpResponse BuildReply(const RequestView& body, int64_t input_tokens, const std::optional<ScriptedReply>& script,
                          const std::string& request_id, const CacheUsage& cache);
  std::string NextRequestId();
  std::string NextMessageId();

  // A /v1/messages request as GET /_sim/requests shows it. The body is kept as it came
  // and parsed only when asked for: copying the parsed tree of every request (a
  // whole conversation each) cost as much as parsing it.
  struct LoggedRequest {
    std::string method;
    std::string path;
    HttpHeaders headers;  // secrets REDACTED
    std::string body;
    int status = 0;
    std::string request_id;
  };

  // Appends to the request log, moving the request's body into it, and counts the status.
  void RecordLocked(HttpRequest& request, int status, const std::string& request_id)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);
  // The log as GET /_sim/requests answers it: [{method, path, headers, body, status,
  // request_id}], the body parsed (or the raw string when it is not JSON).
  Json RequestLogLocked() const ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const SimulatorOptions options_;
  const uint64_t id_seed_;
  std::atomic<uint64_t> id_counter_{0};
  // Has its own lock: requests read their bodies outside mu_.
  MessageCache message_cache_;

  absl::Mutex mu_;
  ReplyQueue replies_ ABSL_GUARDED_BY(mu_);
  std::deque<LoggedRequest> request_log_ ABSL_GUARDED_BY(mu_);
  size_t request_log_bytes_ ABSL_GUARDED_BY(mu_) = 0;  // of the bodies in request_log_
  int64_t message_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t count_tokens_requests_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t scripted_replies_used_ ABSL_GUARDED_BY(mu_) = 0;
  std::map<int, int64_t> by_status_ ABSL_GUARDED_BY(mu_);
  PromptCache prompt_cache_ ABSL_GUARDED_BY(mu_);
  double rate_tokens_ ABSL_GUARDED_BY(mu_) = 0;  // the request bucket (rate_limit_rps)
  absl::Time rate_updated_ ABSL_GUARDED_BY(mu_) = absl::InfinitePast();
};

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_SIMULATOR_H_
