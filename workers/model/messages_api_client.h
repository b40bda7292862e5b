// ModelClient over HTTP/1.1: Claude's Messages API (or anything speaking its wire
// format, such as baton-model-sim). libcurl opens the connections (TCP, TLS, proxies
// from the usual environment variables, tunnelled with CONNECT); the client writes the
// requests and reads the answers on them itself.
#ifndef BATON_WORKERS_MODEL_MESSAGES_API_CLIENT_H_
#define BATON_WORKERS_MODEL_MESSAGES_API_CLIENT_H_

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "common/metrics.h"
#include "workers/model/model_client.h"
#include "workers/model/rate_gate.h"
#include "workers/model/retry_policy.h"

namespace baton::worker {

struct MessagesApiClientOptions {
  // Where the API lives; "/v1/messages" is appended. A trailing '/' is ignored.
  // Default: "https://api.anthropic.com" (FromEnvironment: $ANTHROPIC_BASE_URL).
  std::string base_url = "https://api.anthropic.com";
  // Sent as `x-api-key`. Default: empty, not sent (FromEnvironment: $ANTHROPIC_API_KEY).
  std::string api_key;
  // Sent as `Authorization: Bearer …`. Default: empty, not sent
  // (FromEnvironment: $ANTHROPIC_AUTH_TOKEN). Both are sent when both are set.
  std::string auth_token;
  // The `anthropic-version` header. Default: "2023-06-01".
  std::string anthropic_version = "2023-06-01";
  // Beta features, sent as one comma-separated `anthropic-beta` header. Default: none.
  std::vector<std::string> betas;
  // A PEM file of the certificate authorities to trust for https, instead of libcurl's
  // default bundle (a proxy that inspects TLS, a private gateway). Default: empty
  // (FromEnvironment: $SSL_CERT_FILE, the variable OpenSSL itself reads).
  std::string ca_file;
  // Time to establish a connection (TCP and TLS) for one attempt. Default: 10 s.
  absl::Duration connect_timeout = absl::Seconds(10);
  // Retries after the first attempt (so max_retries + 1 attempts). Default: 4.
  int max_retries = 4;
  // The first backoff between attempts, doubled after each retry. Default: 0.5 s.
  absl::Duration initial_retry_backoff = absl::Milliseconds(500);
  // The backoff stops doubling here. Default: 8 s.
  absl::Duration max_retry_backoff = absl::Seconds(8);
  // No wait between attempts is longer, even when retry-after asks for more.
  // Default: 60 s.
  absl::Duration max_retry_delay = absl::Seconds(60);
  // The `User-Agent` header. Default: "baton/0.1".
  std::string user_agent = "baton/0.1";
  // Asked before every /v1/messages attempt and told its outcome (fleet-wide rate
  // limits). Not owned; must outlive the client. Default: none.
  RateGate* rate_gate = nullptr;
  // Prometheus metrics (docs/operations.md, "Metrics"): each Messages API call's
  // duration and outcome, time to first token, retries. Not owned; must outlive the
  // client. Default: none.
  metrics::Registry* metrics = nullptr;

  // The defaults above, with base_url, api_key, auth_token and ca_file taken from
  // ANTHROPIC_BASE_URL, ANTHROPIC_API_KEY, ANTHROPIC_AUTH_TOKEN and SSL_CERT_FILE when
  // set and not empty.
  static MessagesApiClientOptions FromEnvironment();
};

// Calls POST {base_url}/v1/messages, streaming (SSE parsed and assembled as the bytes
// arrive) or not, and retries per retry_policy.h: 408/409/429/5xx/529, connection errors
// and timeouts, and `error` events of the retryable types inside a stream. Other 4xx fail
// at once. Error codes are those of ModelClient; messages read like
//   Messages API 400 invalid_request_error: max_tokens: Field required (request-id req_1)
// and never contain the API key or token.
//
// When a streamed attempt fails after some text arrived and is retried, on_text sees the
// new attempt's text from its start again.
//
// Thread-safe: any number of threads may call at once. Each call borrows a connection
// from a pool (so connections are reused across calls) and returns it afterwards; the
// client must outlive its calls.
class MessagesApiClient final : public ModelClient {
 public:
  explicit MessagesApiClient(MessagesApiClientOptions options,
                             const Clock& clock = SystemClock::Get());
  ~MessagesApiClient() override;

  MessagesApiClient(const MessagesApiClient&) = delete;
  MessagesApiClient& operator=(const MessagesApiClient&) = delete;

  absl::StatusOr<ModelResponse> CreateMessage(const nlohmann::json& request,
                                              const ModelCallOptions& options) override;
  // Sends the pieces as they are: the same bytes CreateMessage sends for the request
  // they spell.
  absl::StatusOr<ModelResponse> CreateMessageSerialized(const SerializedRequest& request,
                                                        const ModelCallOptions& options) override;

  // POST /v1/messages/count_tokens: the input tokens `request` would use. Only the fields
  // the endpoint accepts are sent (model, messages, system, tools, tool_choice, thinking,
  // mcp_servers), so a full CreateMessage request can be passed as is. Retries,
  // attempt_timeout and is_cancelled apply as for CreateMessage; stream and on_text are
  // ignored.
  absl::StatusOr<int64_t> CountTokens(const nlohmann::json& request,
                                      const ModelCallOptions& options) override;
  absl::StatusOr<int64_t> CountTokens(const nlohmann::json& request) {
    return CountTokens(request, ModelCallOptions{});
  }
  absl::StatusOr<int64_t> CountTokensSerialized(const SerializedRequest& request,
                                                const ModelCallOptions& options) override;

  const MessagesApiClientOptions& options() const { return options_; }

 private:
  struct Handle;         // a connection to the API, and the buffer its requests are written in
  struct AttemptResult;  // what one HTTP attempt produced

  // POST /v1/messages of a serialized body (with "stream" as options say).
  absl::StatusOr<ModelResponse> Send(std::string_view body, const std::string& model, int64_t max_tokens,
                                     const ModelCallOptions& options);
  // POST /v1/messages/count_tokens of a serialized body.
  absl::StatusOr<int64_t> SendCountTokens(const std::string& body, const ModelCallOptions& options);
  // Sends `body` to `path`, retrying; on success the response is the parsed message.
  // `rate` (nullable): what the rate gate is asked for before each attempt.
  absl::StatusOr<ModelResponse> Call(std::string_view path, std::string_view body,
                                     const ModelCallOptions& options, bool stream,
                                     const RateAttempt* rate = nullptr);
  // One HTTP exchange: POST {base_url's path}{path} on handle's connection.
  AttemptResult Attempt(Handle& handle, std::string_view path, std::string_view body,
                        const ModelCallOptions& options, bool stream);

  std::unique_ptr<Handle> AcquireHandle();
  void ReleaseHandle(std::unique_ptr<Handle> handle);

  const MessagesApiClientOptions options_;
  const RetryPolicy retry_policy_;
  const Clock& clock_;
  // Not OK when the options cannot make a valid request; every call then fails with it.
  // Set in the constructor, as are the two below.
  absl::Status config_status_;
  // base_url's path, which goes before an endpoint's path (no trailing '/').
  std::string path_prefix_;
  // The header lines after the request line, for an answer as JSON [0] or as events [1].
  std::string header_lines_[2];

  // Set in the constructor from options_.metrics (empty: off).
  metrics::HistogramFamily call_seconds_;          // {model, outcome}
  metrics::HistogramFamily time_to_first_token_;   // {model}
  metrics::CounterFamily retries_;                 // {reason}

  absl::Mutex mu_;
  std::vector<std::unique_ptr<Handle>> idle_handles_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_MESSAGES_API_CLIENT_H_
