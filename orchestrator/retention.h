// Retention of ended runs (docs/operations.md, "Retention"): a background thread that
// deletes the runs that ended longer ago than their namespace's retention period.
//
// It finds them through the store's ended index (RunStore::ListEnded, one entry per
// root run, oldest end first), so a sweep reads only what it deletes, never a live
// run. A root goes with its whole tree (children and graph nodes, found through the
// parent index): a run ends its children when it ends, so every run of the tree has
// ended and none is deleted while an ancestor lives. Deletes go through the normal
// commit path (RunStore::Commit) in batches of at most `batch_runs` runs, each run
// after its children and the root (with its index entry) last, so a crash in the
// middle leaves the entry that finds the rest. A tree is walked a page of children at
// a time: a sweep's memory is bounded by the tree's depth, not its size. The scheduler
// is never involved: ended runs are not in its memory, and nothing here takes its
// mutex. After a namespace's deletes the space is given back (RunStore::ReclaimSpace).
#ifndef BATON_ORCHESTRATOR_RETENTION_H_
#define BATON_ORCHESTRATOR_RETENTION_H_

#include <cstddef>
#include <cstdint>
#include <string>
#include <thread>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/status/statusor.h"
#include "absl/synchronization/mutex.h"
#include "absl/time/time.h"
#include "common/clock.h"
#include "orchestrator/store/run_store.h"

namespace baton::orchestrator {

struct RetentionOptions {
  // How long ended runs are kept in namespaces whose settings have no
  // retention_seconds. Zero: forever.
  // Default: zero
  absl::Duration default_retention = absl::ZeroDuration();
  // Time between the end of one sweep and the start of the next.
  // Default: 1 min
  absl::Duration interval = absl::Minutes(1);
  // Runs deleted per batch (one batch, one synced write), and roots read per look at
  // the ended index.
  // Default: 100
  size_t batch_runs = 100;
  // Children of a run read per look at the parent index while a tree is deleted: what
  // a sweep holds is at most this many runs per level of the tree.
  // Default: 1,000 (a ListRuns page)
  int list_page_runs = 1000;
};

// What one sweep did.
struct SweepStats {
  size_t roots = 0;  // ended index entries removed
  size_t runs = 0;   // runs deleted, roots and their trees
};

// Thread-safe: Start/Stop from one thread; Sweep may also be called by tests (not while
// the thread runs). `store` and `clock` must outlive it.
class RetentionSweeper {
 public:
  RetentionSweeper(RunStore& store, const Clock& clock, RetentionOptions options);
  ~RetentionSweeper();  // calls Stop()
  RetentionSweeper(const RetentionSweeper&) = delete;
  RetentionSweeper& operator=(const RetentionSweeper&) = delete;

  // Starts the background thread: a sweep at once, then one every interval (even with
  // no period set anywhere: a namespace may set one at any time).
  void Start();
  // Stops the thread after the batch in progress. Idempotent.
  void Stop();

  // One pass over every namespace with ended runs: deletes every tree whose root ended
  // more than the namespace's period before the clock's now.
  absl::StatusOr<SweepStats> Sweep();

 private:
  // The period of each namespace with settings that set one (0: forever).
  absl::StatusOr<std::vector<std::pair<std::string, int64_t>>> ExplicitPeriods();
  // Deletes the trees of `ns` whose roots ended before `cutoff_ms`.
  absl::Status SweepNamespace(const std::string& ns, int64_t cutoff_ms, SweepStats& stats);
  // Deletes the tree of one root (its entry last).
  absl::Status DeleteTree(const EndedRun& root, SweepStats& stats, std::string& first_id, std::string& last_id);
  bool Stopping();
  void Loop();

  RunStore& store_;
  const Clock& clock_;
  const RetentionOptions options_;

  absl::Mutex mu_;
  bool stop_ ABSL_GUARDED_BY(mu_) = false;
  std::thread thread_;  // last: joined in Stop() before the members it uses go
};

}  // namespace baton::orchestrator

#endif  // BATON_ORCHESTRATOR_RETENTION_H_
