#include "mcp-bridge/timer_queue.h"

namespace baton::mcp {

TimerQueue::TimerQueue() : thread_([this] { Loop(); }) {}

TimerQueue::~TimerQueue() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  thread_.join();
}

TimerQueue::TimerId TimerQueue::Schedule(absl::Time when, std::function<void()> fn) {
  absl::MutexLock lock(&mu_);
  const TimerId id = next_id_++;
  by_time_.emplace(when, id);
  timers_.emplace(id, std::make_pair(when, std::move(fn)));
  return id;
}

bool TimerQueue::Cancel(TimerId id) {
  absl::MutexLock lock(&mu_);
  auto it = timers_.find(id);
  if (it == timers_.end()) return false;
  auto [first, last] = by_time_.equal_range(it->second.first);
  for (auto t = first; t != last; ++t) {
    if (t->second == id) {
      by_time_.erase(t);
      break;
    }
  }
  timers_.erase(it);
  return true;
}

void TimerQueue::Loop() {
  absl::MutexLock lock(&mu_);
  while (!stop_) {
    const absl::Time next = by_time_.empty() ? absl::InfiniteFuture() : by_time_.begin()->first;
    if (absl::Now() < next) {
      // Wakes when a timer earlier than `next` is scheduled, or at shutdown.
      auto changed = [this, next]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
        return stop_ || (!by_time_.empty() && by_time_.begin()->first < next);
      };
      mu_.AwaitWithDeadline(absl::Condition(&changed), next);
      continue;
    }
    const TimerId id = by_time_.begin()->second;
    by_time_.erase(by_time_.begin());
    auto it = timers_.find(id);
    std::function<void()> fn = std::move(it->second.second);
    timers_.erase(it);
    mu_.Unlock();
    fn();
    mu_.Lock();
  }
}

}  // namespace baton::mcp
