#include "orchestrator/event_hub.h"

#include <algorithm>
#include <limits>
#include <utility>

#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

void EventHub::Publish(const std::vector<v1::RunEvent>& events) {
  std::set<std::string> keys;
  // The steps whose durable start (or the run's end: every step) these events hold.
  std::vector<std::pair<const std::string*, int>> journaled;
  for (const v1::RunEvent& event : events) {
    keys.insert(event.run_id());
    if (!event.root_run_id().empty()) keys.insert(event.root_run_id());
    if (event.has_step_started()) journaled.emplace_back(&event.run_id(), event.step_started().step());
    if (event.has_state_changed() && IsTerminal(event.state_changed().state())) {
      journaled.emplace_back(&event.run_id(), std::numeric_limits<int>::max());
    }
  }
  if (!journaled.empty()) {
    absl::MutexLock lock(&mu_);
    for (const auto& [run_id, step] : journaled) {
      if (step == std::numeric_limits<int>::max()) {
        live_steps_.erase(*run_id);
        continue;
      }
      LiveSteps& run = live_steps_[*run_id];
      run.journaled_through = std::max(run.journaled_through, step);
      if (run.start.has_value() && run.start->step_started().step() <= step) run.start.reset();
    }
  }
  for (EventSubscriber* subscriber : RefSubscribers(keys)) {
    subscriber->Deliver(events);
    subscriber->Unref();
  }
}

void EventHub::PublishLive(const std::string& run_id, const std::vector<v1::RunEvent>& events) {
  for (auto it = events.rbegin(); it != events.rend(); ++it) {
    if (!it->has_step_started()) continue;
    absl::MutexLock lock(&mu_);
    LiveSteps& run = live_steps_[run_id];
    // Live starts travel apart from the durable events: one may come after its step's.
    if (it->step_started().step() > run.journaled_through) run.start = *it;
    break;
  }
  for (EventSubscriber* subscriber : RefSubscribers({run_id})) {
    subscriber->DeliverLive(events);
    subscriber->Unref();
  }
}

std::vector<EventSubscriber*> EventHub::RefSubscribers(const std::set<std::string>& keys) {
  std::vector<EventSubscriber*> out;
  absl::MutexLock lock(&mu_);
  for (const std::string& key : keys) {
    auto it = subscribers_.find(key);
    if (it == subscribers_.end()) continue;
    for (EventSubscriber* subscriber : it->second) {
      // A tree watcher subscribes under its run and its root: one delivery.
      if (std::find(out.begin(), out.end(), subscriber) != out.end()) continue;
      subscriber->Ref();
      out.push_back(subscriber);
    }
  }
  return out;
}

std::optional<v1::RunEvent> EventHub::LiveStepStarted(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  auto it = live_steps_.find(run_id);
  if (it == live_steps_.end()) return std::nullopt;
  return it->second.start;
}

void EventHub::ForgetLiveSteps(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  live_steps_.erase(run_id);
}

void EventHub::Subscribe(const std::string& run_id, EventSubscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  subscribers_[run_id].insert(subscriber);
}

void EventHub::Unsubscribe(const std::string& run_id, EventSubscriber* subscriber) {
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(run_id);
  if (it == subscribers_.end()) return;
  it->second.erase(subscriber);
  if (it->second.empty()) subscribers_.erase(it);
}

void EventHub::RegisterMetrics(metrics::Registry& registry) {
  watchers_ = registry.AddGauge("baton_watchers", "Open WatchRun streams.");
  live_deltas_dropped_ = registry.AddCounter(
      "baton_live_deltas_dropped_total",
      "Live text deltas dropped: by a WatchRun stream that was behind, or by a worker whose buffer was full.");
}

}  // namespace baton::orchestrator
