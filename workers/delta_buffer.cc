#include "workers/delta_buffer.h"

namespace baton::worker {

DeltaBuffer::Pending* DeltaBuffer::RoomForLocked(const v1::Lease& lease, size_t bytes) {
  if (closed_) {
    ++dropped_;
    return nullptr;
  }
  Pending& pending = runs_[lease.run_id()];
  pending.lease = lease;
  if (bytes_ + bytes > max_bytes_) {
    ++pending.dropped_before;
    ++dropped_;
    return nullptr;
  }
  bytes_ += bytes;
  return &pending;
}

bool DeltaBuffer::Add(const v1::Lease& lease, int step, int block_index, const std::string& text) {
  absl::MutexLock lock(&mu_);
  Pending* room = RoomForLocked(lease, text.size());
  if (room == nullptr) return false;
  Pending& pending = *room;
  if (!pending.deltas.empty() && pending.deltas.back().step() == step &&
      pending.deltas.back().block_index() == block_index) {
    pending.deltas.back().mutable_text()->append(text);
  } else {
    v1::RunEvent::TextDelta& delta = pending.deltas.emplace_back();
    delta.set_step(step);
    delta.set_block_index(block_index);
    delta.set_text(text);
  }
  return true;
}

bool DeltaBuffer::AddStepStarted(const v1::Lease& lease, const v1::RunEvent::StepStarted& started) {
  absl::MutexLock lock(&mu_);
  Pending* room = RoomForLocked(lease, started.ByteSizeLong());
  if (room == nullptr) return false;
  room->steps_started.push_back(started);
  return true;
}

std::vector<v1::PublishDeltasRequest> DeltaBuffer::Take(absl::Duration timeout, absl::Duration linger) {
  absl::MutexLock lock(&mu_);
  auto ready = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return closed_ || !runs_.empty(); };
  if (mu_.AwaitWithTimeout(absl::Condition(&ready), timeout) && !closed_ && linger > absl::ZeroDuration()) {
    mu_.AwaitWithTimeout(absl::Condition(&closed_), linger);
  }
  std::vector<v1::PublishDeltasRequest> out;
  if (closed_) return out;
  for (auto& [run_id, pending] : runs_) {
    // A run with only drops still gets a request: its watchers learn of the gap.
    if (pending.lease.run_id().empty()) continue;
    v1::PublishDeltasRequest& request = out.emplace_back();
    *request.mutable_lease() = pending.lease;
    for (v1::RunEvent::TextDelta& d : pending.deltas) *request.add_deltas() = std::move(d);
    for (v1::RunEvent::StepStarted& started : pending.steps_started) *request.add_steps_started() = std::move(started);
    request.set_dropped_before(pending.dropped_before);
  }
  runs_.clear();
  bytes_ = 0;
  return out;
}

void DeltaBuffer::Close() {
  absl::MutexLock lock(&mu_);
  closed_ = true;
  runs_.clear();
  bytes_ = 0;
}

int64_t DeltaBuffer::dropped() const {
  absl::MutexLock lock(&mu_);
  return dropped_;
}

}  // namespace baton::worker
