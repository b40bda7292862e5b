#include "orchestrator/event_hub.h"

namespace baton::orchestrator {

void EventHub::Publish(const std::vector<v1::RunEvent>& events) {
  std::set<std::string> keys;
  for (const v1::RunEvent& event : events) {
    keys.insert(event.run_id());
    if (!event.root_run_id().empty()) keys.insert(event.root_run_id());
  }
  absl::MutexLock lock(&mu_);
  for (const std::string& key : keys) {
    auto it = subscribers_.find(key);
    if (it == subscribers_.end()) continue;
    for (EventSubscriber* subscriber : it->second) subscriber->Deliver(events);
  }
}

void EventHub::PublishLive(const std::string& run_id, const std::vector<v1::RunEvent>& events) {
  absl::MutexLock lock(&mu_);
  auto it = subscribers_.find(run_id);
  if (it == subscribers_.end()) return;
  for (EventSubscriber* subscriber : it->second) subscriber->DeliverLive(events);
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

}  // namespace baton::orchestrator
