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
  // Depth first, each run after all of its children (post-order): a run's children are
  // listed a page at a time, and the run is deleted once the last page's are. What is
  // held is one page of children per level of the tree, not the tree: a graph of a
  // hundred thousand nodes costs a page's memory, not a hundred thousand records.
  // Batches go in that order, so a crash between two leaves no run whose parent is
  // gone: the parent index still reaches everything left, from the root's entry.
  struct Level {
    v1::Run run;
    std::vector<v1::Run> children;  // listed, not yet visited (last first)
    std::string next_page;          // of the run's children; empty once all were listed
    bool listed = false;            // the first page was asked for
  };
  std::vector<Level> path;
  if (root_run.has_value()) path.push_back(Level{*std::move(root_run), {}, {}, false});
  StoreBatch batch;
  auto commit = [&]() -> absl::Status {
    RETURN_IF_ERROR(store_.Commit(batch));
    stats.runs += batch.run_deletes.size();
    batch = StoreBatch();
    return absl::OkStatus();
  };
  while (!path.empty()) {
    Level& level = path.back();
    if (level.children.empty() && (!level.listed || !level.next_page.empty())) {
      RunFilter filter;
      filter.ns = std::string(NamespaceOfRunId(level.run.run_id()));
      filter.parent_run_id = level.run.run_id();
      ASSIGN_OR_RETURN(RunPage page, store_.ListRuns(filter, options_.list_page_runs, level.next_page));
      level.listed = true;
      level.next_page = std::move(page.next_page_token);
      level.children = std::move(page.runs);
      std::reverse(level.children.begin(), level.children.end());
    }
    if (!level.children.empty()) {
      v1::Run child = std::move(level.children.back());
      level.children.pop_back();
      path.push_back(Level{std::move(child), {}, {}, false});  // `level` is not used after this
      continue;
    }
    // Every child is in a batch: the run goes after them.
    const std::string& id = level.run.run_id();
    if (first_id.empty() || id < first_id) first_id = id;
    if (id > last_id) last_id = id;
    batch.run_deletes.push_back(std::move(level.run));
    path.pop_back();
    if (path.empty()) batch.ended_deletes.push_back(root);  // with the root, last
    if (batch.run_deletes.size() >= options_.batch_runs || path.empty()) RETURN_IF_ERROR(commit());
  }
  if (!root_run.has_value()) {
    // The root's record is gone already (a crash after its batch): only its entry is left.
    batch.ended_deletes.push_back(root);
    RETURN_IF_ERROR(commit());
  }
  ++stats.roots;
  return absl::OkStatus();
}

}  // namespace baton::orchestrator
