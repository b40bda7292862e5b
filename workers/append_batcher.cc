#include "workers/append_batcher.h"

#include <algorithm>
#include <utility>

#include <grpcpp/client_context.h>

#include "absl/synchronization/notification.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "google/rpc/status.pb.h"

namespace baton::worker {

struct AppendBatcher::Item {
  v1::AppendStepRequest* request;
  v1::AppendStepResponse* response;
  absl::Time deadline;
  size_t bytes;
  grpc::Status status;
  bool alone = false;  // the orchestrator has no AppendSteps: send it as AppendStep
  // Notified once the fields above hold the answer. Each slot waits on its own, so a
  // call's end wakes exactly its steps' slots (a condition on mu_ would have every
  // unlock of mu_ test the conditions of all the waiting slots).
  absl::Notification done;
};

struct AppendBatcher::Call {
  grpc::ClientContext ctx;
  v1::AppendStepsRequest request;
  v1::AppendStepsResponse response;
  std::vector<Item*> items;
};

AppendBatcher::AppendBatcher(std::shared_ptr<grpc::Channel> channel)
    : stub_(v1::WorkerService::NewStub(std::move(channel))) {}

AppendBatcher::~AppendBatcher() {
  absl::MutexLock lock(&mu_);
  mu_.Await(absl::Condition(
      +[](int* in_flight) { return *in_flight == 0; }, &in_flight_));
}

grpc::Status AppendBatcher::Append(v1::AppendStepRequest* request, absl::Time deadline,
                                   v1::AppendStepResponse* response) {
  if (unsupported_.load(std::memory_order_relaxed)) return AppendAlone(*request, deadline, response);
  Item item{request, response, deadline, request->ByteSizeLong()};
  std::vector<Call*> calls;
  {
    absl::MutexLock lock(&mu_);
    queue_.push_back(&item);
    calls = TakeCallsLocked();
  }
  Start(calls);
  item.done.WaitForNotification();
  if (item.alone) return AppendAlone(*request, deadline, response);
  return item.status;
}

std::vector<AppendBatcher::Call*> AppendBatcher::TakeCallsLocked() {
  std::vector<Call*> calls;
  size_t next = 0;
  while (in_flight_ < kMaxCallsInFlight && next < queue_.size()) {
    auto* call = new Call;
    size_t bytes = 0;
    absl::Time deadline = absl::InfiniteFuture();
    while (next < queue_.size() && call->items.size() < kMaxStepsPerCall) {
      Item* item = queue_[next];
      if (!call->items.empty() && bytes + item->bytes > kMaxBytesPerCall) break;
      bytes += item->bytes;
      deadline = std::min(deadline, item->deadline);
      call->items.push_back(item);
      ++next;
    }
    call->ctx.set_deadline(absl::ToChronoTime(deadline));
    // While the orchestrator restarts the call waits for the channel, and drives its
    // reconnection (Worker's GrpcRunJournal says why).
    call->ctx.set_wait_for_ready(true);
    ++in_flight_;
    calls.push_back(call);
  }
  queue_.erase(queue_.begin(), queue_.begin() + static_cast<std::ptrdiff_t>(next));
  return calls;
}

void AppendBatcher::Start(const std::vector<Call*>& calls) {
  for (Call* call : calls) {
    // The steps are borrowed: their owners wait in Append until OnDone gives them back.
    for (Item* item : call->items) call->request.add_steps()->Swap(item->request);
    calls_.fetch_add(1, std::memory_order_relaxed);
    batched_steps_.fetch_add(static_cast<int64_t>(call->items.size()), std::memory_order_relaxed);
    stub_->async()->AppendSteps(&call->ctx, &call->request, &call->response,
                                [this, call](grpc::Status status) { OnDone(call, status); });
  }
}

void AppendBatcher::OnDone(Call* call, const grpc::Status& status) {
  // An orchestrator from before AppendSteps answers UNIMPLEMENTED, or, with
  // authentication on, PERMISSION_DENIED (its role table does not know the method).
  // Either way each step goes as AppendStep, which a worker that may not append at
  // all is refused too.
  const bool unimplemented = status.error_code() == grpc::StatusCode::UNIMPLEMENTED ||
                             status.error_code() == grpc::StatusCode::PERMISSION_DENIED;
  if (unimplemented && !unsupported_.exchange(true, std::memory_order_relaxed)) {
    BATON_LOG(WARNING) << "AppendSteps refused (" << status.error_message()
                       << "): sending each step as AppendStep from now on";
  }
  const int n = static_cast<int>(call->items.size());
  const bool answered = status.ok() && call->response.results_size() == n;
  for (int i = 0; i < n; ++i) {
    Item* item = call->items[i];
    item->request->Swap(call->request.mutable_steps(i));
    if (answered) {
      v1::AppendStepResult* result = call->response.mutable_results(i);
      item->status = FromRpcStatus(result->status());
      if (item->status.ok()) item->response->Swap(result->mutable_response());
    } else if (unimplemented) {
      item->alone = true;
    } else if (status.ok()) {
      item->status = grpc::Status(grpc::StatusCode::INTERNAL,
                                  "AppendSteps answered " + std::to_string(call->response.results_size()) +
                                      " results for " + std::to_string(n) + " steps");
    } else {
      item->status = status;
    }
  }
  std::vector<Call*> calls;
  {
    absl::MutexLock lock(&mu_);
    --in_flight_;
    calls = TakeCallsLocked();
  }
  // An item belongs to its waiting slot, and is gone once notified.
  for (Item* item : call->items) item->done.Notify();
  delete call;
  Start(calls);
}

grpc::Status AppendBatcher::AppendAlone(const v1::AppendStepRequest& request, absl::Time deadline,
                                        v1::AppendStepResponse* response) {
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(deadline));
  ctx.set_wait_for_ready(true);
  return stub_->AppendStep(&ctx, request, response);
}

}  // namespace baton::worker
