// Runs callbacks at given times on one thread: the timeouts of in-flight MCP calls.
#ifndef BATON_MCP_BRIDGE_TIMER_QUEUE_H_
#define BATON_MCP_BRIDGE_TIMER_QUEUE_H_

#include <cstdint>
#include <functional>
#include <map>
#include <thread>
#include <utility>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"

namespace baton::mcp {

// Thread-safe. Callbacks run on the queue's thread, one at a time, without the lock
// held; they must be short (they post work, they do not do it). The destructor
// drops the callbacks not yet run and joins the thread.
class TimerQueue {
 public:
  using TimerId = int64_t;

  TimerQueue();
  ~TimerQueue();
  TimerQueue(const TimerQueue&) = delete;
  TimerQueue& operator=(const TimerQueue&) = delete;

  TimerId Schedule(absl::Time when, std::function<void()> fn);
  // Returns false when the timer already ran (or is running) or never existed.
  bool Cancel(TimerId id);

 private:
  void Loop();

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  TimerId next_id_ ABSL_GUARDED_BY(mu_) = 1;
  std::multimap<absl::Time, TimerId> by_time_ ABSL_GUARDED_BY(mu_);
  absl::flat_hash_map<TimerId, std::pair<absl::Time, std::function<void()>>> timers_ ABSL_GUARDED_BY(mu_);
  std::thread thread_;  // last: starts after the state above exists
};

}  // namespace baton::mcp

#endif  // BATON_MCP_BRIDGE_TIMER_QUEUE_H_
