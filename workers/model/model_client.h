// The worker's view of a language model: one Messages API call.
#ifndef BATON_WORKERS_MODEL_MODEL_CLIENT_H_
#define BATON_WORKERS_MODEL_MODEL_CLIENT_H_

#include <cstdint>
#include <functional>
#include <string>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "absl/time/time.h"
#include "workers/model/serialized_request.h"

namespace baton::worker {

struct ModelCallOptions {
  // Stream the answer over SSE (the default) or ask for one JSON body.
  bool stream = true;
  // Total time for one HTTP attempt. Default: 10 minutes.
  absl::Duration attempt_timeout = absl::Minutes(10);
  // Polled while the call is in flight (also between retries); returning true
  // aborts the call with kCancelled.
  std::function<bool()> is_cancelled;
  // Called with each text delta as it streams in (may be empty).
  std::function<void(int block_index, const std::string& text)> on_text;
};

struct ModelResponse {
  // The assembled Messages API message, the same shape for streaming and not:
  // {id, type, role, model, content[], stop_reason, stop_sequence, usage{...}}.
  nlohmann::json message;
  std::string request_id;  // the API's request-id header
  int attempts = 1;        // HTTP attempts made, retries included
  // The last attempt's time from sending to its first content delta (a streamed
  // answer's first chunk). Zero when the client cannot tell (a call not streamed).
  absl::Duration time_to_first_chunk;
};

// Calls POST /v1/messages. Thread-safe; one instance serves every run of a worker.
//
// Errors (the message always carries the API's own error message when there is one):
//   kInvalidArgument   400, 413 (the request is wrong; do not retry)
//   kUnauthenticated   401      kPermissionDenied 403      kNotFound 404
//   kResourceExhausted 429 after the retries ran out
//   kUnavailable       5xx / 529 / connection errors after the retries ran out
//   kDeadlineExceeded  an attempt passed attempt_timeout, retries ran out
//   kCancelled         options.is_cancelled returned true
class ModelClient {
 public:
  virtual ~ModelClient() = default;
  // `request` is a Messages API request body without "stream" (the client sets it).
  virtual absl::StatusOr<ModelResponse> CreateMessage(const nlohmann::json& request,
                                                      const ModelCallOptions& options) = 0;

  // The same call with a body the caller serialized (the agent loop keeps its
  // conversation's bytes between steps). A client that speaks HTTP sends the pieces as
  // they are; the default parses them for CreateMessage (test doubles).
  virtual absl::StatusOr<ModelResponse> CreateMessageSerialized(const SerializedRequest& request,
                                                                const ModelCallOptions& options) {
    nlohmann::json parsed = nlohmann::json::parse(request.Body(/*stream=*/false), nullptr, false);
    if (parsed.is_discarded()) return absl::InternalError("the serialized Messages API request is not JSON");
    return CreateMessage(parsed, options);
  }

  // POST /v1/messages/count_tokens: the input tokens `request` (a CreateMessage body)
  // would use. kUnimplemented when the client cannot count; callers then estimate.
  virtual absl::StatusOr<int64_t> CountTokens(const nlohmann::json& request,
                                              const ModelCallOptions& options) {
    return absl::UnimplementedError("count_tokens is not supported by this model client");
  }
  virtual absl::StatusOr<int64_t> CountTokensSerialized(const SerializedRequest& request,
                                                        const ModelCallOptions& options) {
    nlohmann::json parsed = nlohmann::json::parse(request.Body(/*stream=*/false), nullptr, false);
    if (parsed.is_discarded()) return absl::InternalError("the serialized Messages API request is not JSON");
    return CountTokens(parsed, options);
  }
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_MODEL_MODEL_CLIENT_H_
