// The scheduler's Prometheus metrics (docs/operations.md, "Metrics"). Counters are
// bumped where the scheduler decides; the gauges of runs and queues are read here, at
// scrape time, so the paths that decide do no work for them.
#include <algorithm>
#include <string>

#include "common/namespaces.h"
#include "orchestrator/scheduler.h"

namespace baton::orchestrator {

void Scheduler::RegisterMetrics(metrics::Registry& registry) {
  metrics_.leases_granted =
      registry.AddCounter("baton_leases_granted_total", "Leases granted to workers (a run started or resumed).");
  metrics_.leases_expired = registry.AddCounter(
      "baton_leases_expired_total",
      "Leases lost: expired without a heartbeat, or withdrawn when the worker did not take them up.");
  metrics_.fencing_refusals = registry.AddCounter(
      "baton_fencing_refusals_total", "Worker calls refused because their lease was stale (fencing).");
  metrics_.submit_to_start = registry.AddHistogram(
      "baton_submit_to_start_seconds", "Time from a run's creation to its first lease.", metrics::Buckets::QueueWait());
  metrics_.runs_ended = registry.AddCounterFamily(
      "baton_runs_ended_total", "Runs that ended since the orchestrator started, by namespace and terminal state.");
  registry.AddScrapeCollector([this](metrics::ScrapeWriter& out) {
    const std::map<std::string, NamespaceCounts> counts = CountRuns();
    const int64_t now_ms = clock_.NowMillis();
    out.Gauge("baton_runs", "Runs not yet ended, by namespace and state (QUEUED, RUNNING, WAITING).");
    for (const auto& [ns, c] : counts) {
      out.Add({{"namespace", ns}, {"state", "QUEUED"}}, static_cast<double>(c.queued));
      out.Add({{"namespace", ns}, {"state", "RUNNING"}}, static_cast<double>(c.running));
      out.Add({{"namespace", ns}, {"state", "WAITING"}}, static_cast<double>(c.waiting));
    }
    out.Gauge("baton_queue_depth", "Runs queued (QUEUED, including those in their retry backoff), by namespace.");
    for (const auto& [ns, c] : counts) out.Add({{"namespace", ns}}, static_cast<double>(c.queued));
    out.Gauge("baton_queue_oldest_age_seconds", "Time since the oldest queued run of the namespace was queued.");
    for (const auto& [ns, c] : counts) {
      const int64_t age_ms = c.queued == 0 ? 0 : std::max<int64_t>(0, now_ms - c.oldest_queued_ms);
      out.Add({{"namespace", ns}}, static_cast<double>(age_ms) / 1000);
    }
  });
}

std::map<std::string, Scheduler::NamespaceCounts> Scheduler::CountRuns() {
  std::map<std::string, NamespaceCounts> out;
  absl::MutexLock lock(&mu_);
  // Namespaces with settings or runs seen show up even when they have none now, and
  // "default" always (an autoscaler reads its queue from the first scrape).
  out[std::string(kDefaultNamespace)];
  for (const auto& [name, ns] : namespaces_) out[name];
  for (const auto& [id, active] : active_) {
    NamespaceCounts& c = out[std::string(NamespaceOfRunId(id))];
    switch (active.run.state()) {
      case v1::QUEUED:
        ++c.queued;
        if (c.oldest_queued_ms == 0 || active.enqueue_time_ms < c.oldest_queued_ms) {
          c.oldest_queued_ms = active.enqueue_time_ms;
        }
        break;
      case v1::RUNNING:
        ++c.running;
        break;
      case v1::WAITING:
        ++c.waiting;
        break;
      default:
        break;
    }
  }
  return out;
}

}  // namespace baton::orchestrator
