#include "mcp-bridge/grpc_input_requester.h"

#include <grpcpp/client_context.h>
#include <grpcpp/security/credentials.h>
#include <grpcpp/support/channel_arguments.h>

#include <algorithm>
#include <optional>
#include <utility>
#include <vector>

#include "absl/strings/str_cat.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/logging.h"

namespace baton::mcp {

using json = nlohmann::json;

namespace {

// Worth another attempt: the orchestrator is away, busy, or its answer was late.
bool IsTransient(grpc::StatusCode code) {
  return code == grpc::StatusCode::UNAVAILABLE || code == grpc::StatusCode::DEADLINE_EXCEEDED ||
         code == grpc::StatusCode::RESOURCE_EXHAUSTED || code == grpc::StatusCode::ABORTED;
}

}  // namespace

InputDecision InputDecisionFrom(const v1::ApprovalDecision& decision) {
  InputDecision d;
  if (decision.timed_out()) return d;  // nobody decided: cancel
  switch (decision.decision()) {
    case v1::ACCEPT: {
      d.action = InputDecision::Action::kAccept;
      // Not JSON stays discarded: the client answers cancel and says why.
      d.content = json::parse(decision.input_json(), nullptr, false);
      break;
    }
    case v1::DECLINE:
    case v1::DENY:
      d.action = InputDecision::Action::kDecline;
      break;
    default:
      d.action = InputDecision::Action::kCancel;
      break;
  }
  return d;
}

struct GrpcInputRequester::Pending {
  InputRequest request;
  std::function<void(absl::StatusOr<InputDecision>)> done;
  std::string approval_id;  // from RequestInput
  bool cancelled = false;
  bool ended = false;  // `done` is running: the entry goes once it returned
  std::shared_ptr<grpc::ClientContext> rpc;  // the RPC in flight
  TimerQueue::TimerId timer = 0;            // the next Step, when one is scheduled
  absl::Duration backoff = absl::ZeroDuration();
  // The messages of the RPC in flight.
  v1::RequestInputRequest create_request;
  v1::RequestInputResponse create_response;
  v1::AwaitInputRequest await_request;
  v1::AwaitInputResponse await_response;
};

GrpcInputRequester::GrpcInputRequester(GrpcInputRequesterOptions options, TimerQueue& timers)
    : GrpcInputRequester(options,
                         NewChannel(options.address, ChannelOptions{.tls = options.tls,
                                                                    // BATON_API_KEY: a worker key (orchestrator --auth)
                                                                    .bearer_token = BearerTokenFromEnvironment()}),
                         timers) {}

GrpcInputRequester::GrpcInputRequester(GrpcInputRequesterOptions options, std::shared_ptr<grpc::Channel> channel,
                                       TimerQueue& timers)
    : options_(std::move(options)),
      timers_(timers),
      channel_(std::move(channel)),
      stub_(v1::WorkerService::NewStub(channel_)) {}

GrpcInputRequester::~GrpcInputRequester() {
  std::vector<AskId> ids;
  {
    absl::MutexLock lock(&mu_);
    for (const auto& [id, pending] : pending_) ids.push_back(id);
  }
  for (AskId id : ids) Cancel(id);
  absl::MutexLock lock(&mu_);
  auto idle = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return pending_.empty() && interrupts_queued_ == 0; };
  mu_.Await(absl::Condition(&idle));
}

InputRequester::AskId GrpcInputRequester::Ask(InputRequest request,
                                              std::function<void(absl::StatusOr<InputDecision>)> done) {
  absl::MutexLock lock(&mu_);
  const AskId id = next_id_++;
  auto pending = std::make_unique<Pending>();
  pending->request = std::move(request);
  pending->done = std::move(done);
  // The first RPC starts on the timer thread, so `done` never runs inside Ask.
  pending->timer = timers_.Schedule(absl::Now(), [this, id] { Step(id); });
  pending_.emplace(id, std::move(pending));
  return id;
}

void GrpcInputRequester::Cancel(AskId id) {
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second->cancelled || it->second->ended) return;
    it->second->cancelled = true;
    ++interrupts_queued_;
  }
  // TryCancel may run the RPC's callback on the calling thread: the timer thread
  // does it, so `done` never runs inside Cancel.
  timers_.Schedule(absl::Now(), [this, id] {
    Interrupt(id);
    absl::MutexLock lock(&mu_);
    --interrupts_queued_;
  });
}

void GrpcInputRequester::Interrupt(AskId id) {
  std::shared_ptr<grpc::ClientContext> rpc;
  bool end_now = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    rpc = p.rpc;
    // A Step that has not started yet never will; one that is running sees
    // `cancelled` and ends the ask itself.
    if (p.timer != 0 && timers_.Cancel(p.timer)) {
      p.timer = 0;
      end_now = true;
    }
  }
  if (rpc != nullptr) rpc->TryCancel();  // its callback ends the ask
  if (end_now) End(id, absl::CancelledError("the tool call no longer waits for the answer"));
}

void GrpcInputRequester::Step(AskId id) {
  Pending* p = nullptr;
  std::shared_ptr<grpc::ClientContext> rpc;
  bool create = false;
  absl::Status end;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    p = it->second.get();
    p->timer = 0;
    const absl::Time now = absl::Now();
    if (p->cancelled) {
      end = absl::CancelledError("the tool call no longer waits for the answer");
    } else if (now >= p->request.deadline) {
      end = absl::DeadlineExceededError("nobody answered before the tool call's deadline");
    } else {
      rpc = std::make_shared<grpc::ClientContext>();
      // An orchestrator that is restarting is waited for (until the deadline)
      // rather than failing the attempt at once.
      rpc->set_wait_for_ready(true);
      create = p->approval_id.empty();
      const absl::Duration remaining = p->request.deadline - now;
      if (create) {
        v1::RequestInputRequest& r = p->create_request;
        r.set_run_id(p->request.call.run_id);
        r.set_step(p->request.call.step);
        r.set_tool_use_id(p->request.call.tool_use_id);
        r.set_tool(p->request.call.tool);
        r.set_message(p->request.message);
        r.set_requested_schema_json(
            p->request.requested_schema.dump(-1, ' ', false, json::error_handler_t::replace));
        // 0 (the orchestrator's default) when the call has no deadline.
        r.set_timeout_ms(remaining == absl::InfiniteDuration() ? 0 : absl::ToInt64Milliseconds(remaining));
        r.set_sequence(p->request.sequence);
        rpc->set_deadline(absl::ToChronoTime(now + std::min(options_.rpc_timeout, remaining)));
      } else {
        const absl::Duration wait = std::min(options_.await_wait, remaining);
        p->await_request.set_approval_id(p->approval_id);
        p->await_request.set_wait_ms(std::max<int64_t>(1, absl::ToInt64Milliseconds(wait)));
        rpc->set_deadline(absl::ToChronoTime(now + wait + options_.rpc_timeout));
      }
      p->rpc = rpc;
    }
  }
  if (!end.ok()) {
    End(id, end);
    return;
  }
  // Not under the lock: the callback may run on this thread.
  if (create) {
    stub_->async()->RequestInput(rpc.get(), &p->create_request, &p->create_response,
                                 [this, id](grpc::Status s) { OnRequested(id, s); });
  } else {
    stub_->async()->AwaitInput(rpc.get(), &p->await_request, &p->await_response,
                               [this, id](grpc::Status s) { OnAwaited(id, s); });
  }
}

void GrpcInputRequester::OnRequested(AskId id, const grpc::Status& status) {
  if (!status.ok()) {
    OnFailure(id, status, "RequestInput");
    return;
  }
  std::string approval_id;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    p.rpc.reset();
    p.backoff = absl::ZeroDuration();
    p.approval_id = p.create_response.approval_id();
    approval_id = p.approval_id;
  }
  if (approval_id.empty()) {
    End(id, absl::InternalError("RequestInput returned no approval_id"));
    return;
  }
  BATON_LOG(INFO) << "input request " << approval_id << " waits for a person";
  Step(id);
}

void GrpcInputRequester::OnAwaited(AskId id, const grpc::Status& status) {
  if (!status.ok()) {
    OnFailure(id, status, "AwaitInput");
    return;
  }
  std::optional<InputDecision> decision;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    p.rpc.reset();
    p.backoff = absl::ZeroDuration();
    if (p.await_response.decided()) decision = InputDecisionFrom(p.await_response.decision());
  }
  if (decision.has_value()) {
    End(id, std::move(*decision));
  } else {
    Step(id);  // still pending after wait_ms: poll again
  }
}

void GrpcInputRequester::OnFailure(AskId id, const grpc::Status& status, const char* rpc) {
  absl::Status end;
  absl::Duration delay;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end()) return;
    Pending& p = *it->second;
    p.rpc.reset();
    if (p.cancelled) {
      end = absl::CancelledError("the tool call no longer waits for the answer");
    } else if (!IsTransient(status.error_code())) {
      // Refused (the run is not running, the request is invalid...): asking again
      // gives the same answer.
      end = absl::Status(FromGrpcStatus(status).code(), absl::StrCat(rpc, ": ", status.error_message()));
    } else {
      p.backoff = std::clamp(p.backoff * 2, options_.retry_initial, options_.retry_max);
      // Step ends the ask once the deadline has passed.
      const absl::Time when = std::min(absl::Now() + p.backoff, p.request.deadline);
      delay = when - absl::Now();
      p.timer = timers_.Schedule(when, [this, id] { Step(id); });
    }
  }
  if (!end.ok()) {
    End(id, end);
    return;
  }
  BATON_LOG(WARNING) << rpc << " failed (" << status.error_message() << "); trying again in "
                     << absl::FormatDuration(delay);
}

void GrpcInputRequester::End(AskId id, absl::StatusOr<InputDecision> result) {
  std::function<void(absl::StatusOr<InputDecision>)> done;
  {
    absl::MutexLock lock(&mu_);
    auto it = pending_.find(id);
    if (it == pending_.end() || it->second->ended) return;
    it->second->ended = true;
    done = std::move(it->second->done);
  }
  done(std::move(result));
  // Only now: the destructor waits for the entry, so `done` has run when it returns.
  absl::MutexLock lock(&mu_);
  pending_.erase(id);
}

}  // namespace baton::mcp
