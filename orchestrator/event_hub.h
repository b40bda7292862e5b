// Fans durable and live events out to WatchRun streams.
#ifndef BATON_ORCHESTRATOR_EVENT_HUB_H_
#define BATON_ORCHESTRATOR_EVENT_HUB_H_

#include <atomic>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "baton/v1/run.pb.h"
#include "common/metrics.h"

namespace baton::orchestrator {

// What the hub delivers to. Deliveries come without the hub's lock held, each with a
// reference taken under it: a subscriber unsubscribed meanwhile may still get one
// delivery, and lives until it returns. They must not block.
class EventSubscriber {
 public:
  virtual void Deliver(const std::vector<v1::RunEvent>& events) = 0;
  virtual void DeliverLive(const std::vector<v1::RunEvent>& events) = 0;

  void Ref() { refs_.fetch_add(1, std::memory_order_relaxed); }
  // The owner's reference is the first; the last Unref deletes the subscriber.
  void Unref() {
    if (refs_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

 protected:
  virtual ~EventSubscriber() = default;

 private:
  std::atomic<int> refs_{1};
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

  // The live StepStarted of `run_id`'s step in flight: published live, and neither
  // that step's durable StepStarted, a later step's nor the run's end published before
  // or since (a live start that arrives after its step's durable one is not kept). A
  // watcher that starts mid-step was not subscribed when it was published, and without
  // it would print the step's text before the step.
  std::optional<v1::RunEvent> LiveStepStarted(const std::string& run_id);
  // Drops what the hub keeps of `run_id` for LiveStepStarted: for a live start
  // published after its lease ended (the run's end may have been published before it).
  void ForgetLiveSteps(const std::string& run_id);

  // Prometheus metrics (docs/operations.md, "Metrics") of the WatchRun streams, which
  // count themselves through these. REQUIRES: called before serving.
  void RegisterMetrics(metrics::Registry& registry);
  const metrics::Gauge& watchers() const { return watchers_; }
  const metrics::Counter& live_deltas_dropped() const { return live_deltas_dropped_; }

 private:
  // The subscribers of `keys`, each with a reference the caller drops.
  std::vector<EventSubscriber*> RefSubscribers(const std::set<std::string>& keys);

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, std::set<EventSubscriber*>> subscribers_ ABSL_GUARDED_BY(mu_);
  // What LiveStepStarted answers from, per run that has published steps and not ended
  // (dropped with its end, or by ForgetLiveSteps).
  struct LiveSteps {
    int journaled_through = -1;        // the last step whose durable StepStarted was published
    std::optional<v1::RunEvent> start;  // the step in flight's live StepStarted, past it
  };
  absl::flat_hash_map<std::string, LiveSteps> live_steps_ ABSL_GUARDED_BY(mu_);
  metrics::Gauge watchers_;                // set before serving, then only read
  metrics::Counter live_deltas_dropped_;
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_EVENT_HUB_H_
