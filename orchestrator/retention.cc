#include "orchestrator/retention.h"

#include <pthread.h>

#include <algorithm>
#include <optional>
#include <utility>

#include "common/logging.h"
#include "common/namespaces.h"
#include "common/status_macros.h"
#include "orchestrator/store/store_keys.h"

namespace baton::orchestrator {

RetentionSweeper::RetentionSweeper(RunStore& store, const Clock& clock, RetentionOptions options)
    : store_(store), clock_(clock), options_(std::move(options)) {
  BATON_CHECK(options_.batch_runs >= 1) << "RetentionOptions.batch_runs must be >= 1";
}

RetentionSweeper::~RetentionSweeper() { Stop(); }

void RetentionSweeper::Start() {
  thread_ = std::thread([this] { Loop(); });
}

void RetentionSweeper::Stop() {
  {
    absl::MutexLock lock(&mu_);
    stop_ = true;
  }
  if (thread_.joinable()) thread_.join();
}

bool RetentionSweeper::Stopping() {
  absl::MutexLock lock(&mu_);
  return stop_;
}

void RetentionSweeper::Loop() {
  pthread_setname_np(pthread_self(), "baton-retention");
  for (;;) {
    absl::StatusOr<SweepStats> stats = Sweep();
    if (!stats.ok()) {
      BATON_LOG(WARNING) << "retention sweep stopped: " << stats.status() << " (next try in "
                         << options_.interval << ")";
    } else if (stats->runs > 0) {
      BATON_LOG(INFO) << "retention deleted " << stats->runs << " ended runs (" << stats->roots << " trees)";
    }
    absl::MutexLock lock(&mu_);
    if (mu_.AwaitWithTimeout(absl::Condition(&stop_), options_.interval)) return;
  }
}

absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> RetentionSweeper::ExplicitPeriods() {
  ASSIGN_OR_RETURN(std::vector<v1::Namespace> settings, store_.ListNamespaces());
  std::vector<std::pair<std::string, int64_t>> periods;
  for (const v1::Namespace& ns : settings) {
    if (ns.has_retention_seconds()) periods.emplace_back(ns.name(), ns.retention_seconds());
  }
  return periods;
}

absl::StatusOr<SweepStats> RetentionSweeper::Sweep() {
  SweepStats stats;
  ASSIGN_OR_RETURN(const auto explicit_periods, ExplicitPeriods());
  ASSIGN_OR_RETURN(const std::vector<std::string> namespaces, store_.ListEndedNamespaces());
  const int64_t now_ms = clock_.NowMillis();
  for (const std::string& ns : namespaces) {
    if (Stopping()) break;
    absl::Duration period = options_.default_retention;
    for (const auto& [name, seconds] : explicit_periods) {
      if (name == ns) period = absl::Seconds(seconds);
    }
    if (period <= absl::ZeroDuration()) continue;  // kept forever
    RETURN_IF_ERROR(SweepNamespace(ns, now_ms - absl::ToInt64Milliseconds(period), stats));
  }
  return stats;
}

absl::Status RetentionSweeper::SweepNamespace(const std::string& ns, int64_t cutoff_ms, SweepStats& stats) {
  // The ids deleted, so the space of exactly their key range is given back.
  std::string first_id;
  std::string last_id;
  const size_t runs_before = stats.runs;
  absl::Status status;
  while (status.ok() && !Stopping()) {
    absl::StatusOr<std::vector<EndedRun>> roots = store_.ListEnded(ns, cutoff_ms, options_.batch_runs);
    if (!roots.ok()) {
      status = roots.status();
      break;
    }
    if (roots->empty()) break;
    for (const EndedRun& root : *roots) {
      status = DeleteTree(root, stats, first_id, last_id);
      if (!status.ok() || Stopping()) break;
    }
  }
  // Whatever was deleted before an error gives its space back too.
  if (stats.runs > runs_before) {
    absl::Status reclaimed = store_.ReclaimSpace(first_id, last_id);
    if (status.ok()) status = reclaimed;
  }
  return status;
}

absl::Status RetentionSweeper::DeleteTree(const EndedRun& root, SweepStats& stats, std::string& first_id,
                                          std::string& last_id) {
  ASSIGN_OR_RETURN(std::optional<v1::Run> root_run, store_.GetRun(root.run_id));
  // The tree, breadth first: every run comes after its parent.
  std::vector<v1::Run> tree;
  if (root_run.has_value()) tree.push_back(*std::move(root_run));
  for (size_t i = 0; i < tree.size(); ++i) {
    RunFilter filter;
    filter.ns = std::string(NamespaceOfRunId(tree[i].run_id()));
    filter.parent_run_id = tree[i].run_id();
    std::string token;
    do {
      ASSIGN_OR_RETURN(RunPage page, store_.ListRuns(filter, store_keys::kMaxPageSize, token));
      for (v1::Run& child : page.runs) tree.push_back(std::move(child));
      token = std::move(page.next_page_token);
    } while (!token.empty());
  }
  // Deepest first, so the parent index still reaches what a crash leaves behind; the
  // root's batch also removes its ended entry.
  std::reverse(tree.begin(), tree.end());
  size_t done = 0;
  do {
    StoreBatch batch;
    const size_t end = std::min(tree.size(), done + options_.batch_runs);
    for (; done < end; ++done) {
      const std::string& id = tree[done].run_id();
      if (first_id.empty() || id < first_id) first_id = id;
      if (id > last_id) last_id = id;
      batch.run_deletes.push_back(std::move(tree[done]));
    }
    if (done == tree.size()) batch.ended_deletes.push_back(root);
    RETURN_IF_ERROR(store_.Commit(batch));
    stats.runs += batch.run_deletes.size();
  } while (done < tree.size());
  ++stats.roots;
  return absl::OkStatus();
}

}  // namespace baton::orchestrator
