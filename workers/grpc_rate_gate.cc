#include "workers/grpc_rate_gate.h"

#include <grpcpp/grpcpp.h>

#include "absl/strings/match.h"
#include "absl/strings/numbers.h"
#include "common/grpc_channel.h"
#include "common/logging.h"

namespace baton::worker {
namespace {

constexpr absl::Duration kRpcDeadline = absl::Seconds(1);
constexpr absl::Duration kUnlimitedFor = absl::Seconds(10);
constexpr absl::Duration kSleepSlice = absl::Milliseconds(20);

// retry-after-ms, else retry-after in seconds; zero when neither parses.
absl::Duration RetryAfter(const HttpHeaders& headers) {
  if (auto it = headers.find("retry-after-ms"); it != headers.end()) {
    double ms = 0;
    if (absl::SimpleAtod(it->second, &ms) && ms > 0) return absl::Milliseconds(ms);
  }
  if (auto it = headers.find("retry-after"); it != headers.end()) {
    double s = 0;
    if (absl::SimpleAtod(it->second, &s) && s > 0) return absl::Seconds(s);
  }
  return absl::ZeroDuration();
}

}  // namespace

namespace {

ChannelOptions WithTls(const ClientTlsOptions& tls) {
  ChannelOptions options;
  options.tls = tls;
  options.bearer_token = BearerTokenFromEnvironment();  // the worker's API key (orchestrator --auth)
  return options;
}

}  // namespace

GrpcRateGate::GrpcRateGate(const std::string& orchestrator_address, std::string worker_id,
                           const ClientTlsOptions& tls)
    : worker_id_(std::move(worker_id)),
      stub_(v1::WorkerService::NewStub(NewChannel(orchestrator_address, WithTls(tls)))) {}

absl::Status GrpcRateGate::Acquire(const RateAttempt& attempt, const std::function<bool()>& is_cancelled) {
  {
    absl::MutexLock lock(&mu_);
    if (unimplemented_) return absl::OkStatus();
    auto it = unlimited_until_.find(attempt.model);
    if (it != unlimited_until_.end() && absl::Now() < it->second) return absl::OkStatus();
  }
  v1::AcquireRateRequest request;
  request.set_worker_id(worker_id_);
  request.set_model(attempt.model);
  request.set_input_tokens(attempt.input_tokens);
  request.set_output_tokens(attempt.output_tokens);
  v1::AcquireRateResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  grpc::Status status = stub_->AcquireRate(&ctx, request, &response);
  {
    absl::MutexLock lock(&mu_);
    unreachable_ = !status.ok();
    if (status.error_code() == grpc::StatusCode::UNIMPLEMENTED) unimplemented_ = true;
  }
  if (!status.ok()) {
    BATON_LOG(WARNING) << "AcquireRate for " << attempt.model << " failed (" << status.error_message()
                       << "); calling without the fleet-wide limit";
    return absl::OkStatus();
  }
  if (response.unlimited()) {
    absl::MutexLock lock(&mu_);
    unlimited_until_[attempt.model] = absl::Now() + kUnlimitedFor;
  }
  const absl::Time until = absl::Now() + absl::Milliseconds(response.wait_ms());
  while (true) {
    if (is_cancelled && is_cancelled()) return absl::CancelledError("cancelled while waiting for rate limit");
    const absl::Duration left = until - absl::Now();
    if (left <= absl::ZeroDuration()) return absl::OkStatus();
    absl::SleepFor(std::min(left, kSleepSlice));
  }
}

bool GrpcRateGate::Governs(const std::string& model) {
  absl::MutexLock lock(&mu_);
  if (unimplemented_ || unreachable_) return false;
  auto it = unlimited_until_.find(model);
  return it == unlimited_until_.end() || absl::Now() >= it->second;
}

void GrpcRateGate::Report(const RateAttempt& attempt, const RateOutcome& outcome) {
  {
    absl::MutexLock lock(&mu_);
    if (unimplemented_) return;
    auto it = unlimited_until_.find(attempt.model);
    if (it != unlimited_until_.end() && absl::Now() < it->second && outcome.http_status != 429) return;
  }
  v1::ReportRateRequest request;
  request.set_worker_id(worker_id_);
  request.set_model(attempt.model);
  request.set_http_status(outcome.http_status);
  request.set_retry_after_ms(absl::ToInt64Milliseconds(RetryAfter(outcome.headers)));
  for (const auto& [name, value] : outcome.headers) {
    if (absl::StartsWith(name, "anthropic-ratelimit-")) (*request.mutable_headers())[name] = value;
  }
  request.set_input_tokens(outcome.input_tokens);
  request.set_output_tokens(outcome.output_tokens);
  request.set_estimated_input_tokens(attempt.input_tokens);
  request.set_estimated_output_tokens(attempt.output_tokens);
  v1::ReportRateResponse response;
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + kRpcDeadline));
  grpc::Status status = stub_->ReportRate(&ctx, request, &response);
  if (!status.ok() && status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
    BATON_LOG(WARNING) << "ReportRate for " << attempt.model << " failed: " << status.error_message();
  }
}

}  // namespace baton::worker
