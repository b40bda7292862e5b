// Fans durable and live events out to WatchRun streams.
#ifndef BATON_ORCHESTRATOR_EVENT_HUB_H_
#define BATON_ORCHESTRATOR_EVENT_HUB_H_

#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/run.pb.h"

namespace baton::orchestrator {

// What the hub delivers to. Both calls come with the hub's lock held: they must only
// queue (never block, never call back into the hub).
class EventSubscriber {
 public:
  virtual ~EventSubscriber() = default;
  virtual void Deliver(const std::vector<v1::RunEvent>& events) = 0;
  virtual void DeliverLive(const std::vector<v1::RunEvent>& events) = 0;
};

// Thread-safe. A subscriber keyed by a run id gets the durable events of that run and
// of every run whose root it is (RunEvent.root_run_id), in commit order, and the live
// events of that run.
class EventHub {
 public:
  void Publish(const std::vector<v1::RunEvent>& events);
  // Live, non-durable events of one run (text deltas, gaps): delivered to its current
  // watchers if they have room, else dropped (they get a Gap event). Never blocks.
  void PublishLive(const std::string& run_id, const std::vector<v1::RunEvent>& events);
  void Subscribe(const std::string& run_id, EventSubscriber* subscriber);
  void Unsubscribe(const std::string& run_id, EventSubscriber* subscriber);

 private:
  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::set<EventSubscriber*>> subscribers_ ABSL_GUARDED_BY(mu_);
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_EVENT_HUB_H_
