#include "orchestrator/run_watcher.h"

#include <algorithm>
#include <deque>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/synchronization/mutex.h"
#include "common/grpc_status.h"

namespace baton::orchestrator {
namespace {

// The run an event says was started below its run: a subagent's or a graph node's.
const std::string& ChildOf(const v1::RunEvent& event) {
  return event.has_child_started() ? event.child_started().child_run_id() : event.node_started().child_run_id();
}

bool IsTerminalEvent(const v1::RunEvent& event) {
  return event.has_state_changed() && IsTerminal(event.state_changed().state());
}

// Whether `events` hold the durable start of `start`'s step or of a later one, or the
// end of its run: then the live `start` is stale.
bool StepJournaledIn(const std::deque<v1::RunEvent>& events, const v1::RunEvent& start) {
  for (const v1::RunEvent& e : events) {
    if (e.run_id() != start.run_id()) continue;
    if (e.has_step_started() && e.step_started().step() >= start.step_started().step()) return true;
    if (IsTerminalEvent(e)) return true;
  }
  return false;
}

// One WatchRun stream (Message: RunEvent) or WatchRunBatched stream (Message:
// RunEventBatch). Events come from the store (at the start and after a gap) and from
// the hub as they become durable; each followed run has its own cursor (one run, or
// with include_children the run and every child its ChildStarted events name). A
// delivery is queued whole when fewer than kMaxPending events wait (a fan-out's turn
// brings 3 events per child), up to kMaxAdmitted more. Past kMaxPending, each followed
// run, and without include_children each child whose start the hub brought it, has
// room for kRoomPerRun more (within kMaxAdmitted): the children of a big fan-out send
// their next events (or their parent its ChildFinished) while its first ones are still
// being written. Past
// that the watcher drops events and reads again from the store, so at most
// kMaxPending + kMaxAdmitted wait and a slow client never grows memory further or
// holds up a worker.
// A batched stream writes everything queued when a write can start, up to
// kMaxBatchEvents and kMaxBatchBytes. Deletes itself in OnDone.
template <typename Message>
class RunWatcher final : public grpc::ServerWriteReactor<Message>, public EventSubscriber {
 public:
  static constexpr bool kBatched = std::is_same_v<Message, v1::RunEventBatch>;
  static_assert(kBatched || std::is_same_v<Message, v1::RunEvent>);
  static constexpr size_t kMaxPending = 256;
  static constexpr size_t kMaxAdmitted = 2048;
  static constexpr size_t kRoomPerRun = 8;
  static constexpr int kMaxBatchEvents = 64;
  static constexpr size_t kMaxBatchBytes = size_t{256} << 10;  // past a batch's first event
  // Live deltas are queued only while fewer than this many events wait, so they never
  // take the room durable events need.
  static constexpr size_t kMaxPendingLive = 128;
  static constexpr int kReadBatch = 256;

  // `children`: runs below this one already known (started before after_seq), followed
  // from their first event.
  RunWatcher(Scheduler& scheduler, RunStore& store, EventHub& hub, std::string run_id, std::string root_id,
             int64_t after_seq, bool live_text, bool include_children, const std::vector<std::string>& children)
      : scheduler_(scheduler),
        store_(store),
        hub_(hub),
        run_id_(std::move(run_id)),
        root_id_(include_children ? std::move(root_id) : run_id_),
        live_text_(live_text),
        include_children_(include_children) {
    cursors_[run_id_] = Cursor{after_seq, after_seq};
    for (const std::string& child : children) cursors_.try_emplace(child);
    // Events of the whole tree are published under its root; live text under the run.
    hub_.Subscribe(run_id_, this);
    if (root_id_ != run_id_) hub_.Subscribe(root_id_, this);
    hub_.watchers().Increment();
    Resync();
  }

  // Called by the hub, in commit order, with new durable events.
  void Deliver(const std::vector<v1::RunEvent>& events) override {
    StreamOp op;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      op = DeliverLocked(events);
    }
    Perform(op);
  }

  // Called by the hub with live events (seq 0) of the watched run. Dropped when the
  // stream is behind; the next live event delivered is then preceded by a Gap.
  void DeliverLive(const std::vector<v1::RunEvent>& events) override {
    if (!live_text_) return;
    StreamOp op;
    {
      absl::MutexLock lock(&mu_);
      if (finished_) return;
      op = DeliverLiveLocked(events);
    }
    Perform(op);
  }

  void OnWriteDone(bool ok) override {
    StreamOp op;
    bool resync = false;
    {
      absl::MutexLock lock(&mu_);
      writing_ = false;
      if (finish_after_write_.has_value()) {
        op = {StreamOp::kFinish, *finish_after_write_};
      } else if (!ok) {
        op = FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "client went away"));
      } else {
        bool end = false;
        ForEachWritten([&](const v1::RunEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
          if (event.seq() > 0) cursors_[event.run_id()].last_sent = event.seq();  // live events have none
          end = IsEndLocked(event);
        });
        if (end) {
          op = FinishLocked(grpc::Status::OK);
        } else if (!pending_.empty()) {
          op = StartNextLocked();
        } else if (resync_needed_) {
          resync = true;
        }
      }
    }
    Perform(op);
    if (resync) Resync();
  }

  void OnCancel() override {
    StreamOp op;
    {
      absl::MutexLock lock(&mu_);
      op = FinishLocked(grpc::Status(grpc::StatusCode::CANCELLED, "cancelled"));
    }
    Perform(op);
  }

  void OnDone() override {
    hub_.Unsubscribe(run_id_, this);
    if (root_id_ != run_id_) hub_.Unsubscribe(root_id_, this);
    hub_.watchers().Decrement();
    this->Unref();  // gRPC's; a delivery in progress holds its own
  }

 private:
  struct Cursor {
    int64_t last_queued = 0;
    int64_t last_sent = 0;
  };

  // What a locked section decided to start on the stream. gRPC's stream operations
  // are started after the lock is released (Perform), so a reactor callback never
  // waits for this watcher's lock inside gRPC, nor gRPC for a delivery under it.
  struct StreamOp {
    enum Kind { kNone, kWrite, kWriteAndFinish, kFinish } kind = kNone;
    grpc::Status status;
    // kWrite with more events queued behind it: gRPC may hold the message (up to its
    // write buffer, 64 KiB) and send it with the next, so a step's events leave in one
    // socket write instead of one each. The write still completes at once, and the
    // events behind it are written from OnWriteDone, the last without the hint: nothing
    // empties pending_ while a write is out (Resync waits for it), and Finish flushes.
    // Never the stream's first write: it carries the initial metadata, and a held
    // write completes only once that is sent.
    bool buffer = false;
  };

  void Perform(const StreamOp& op) {
    switch (op.kind) {
      case StreamOp::kNone: break;
      // current_ is not touched until OnWriteDone (writing_ is set).
      case StreamOp::kWrite:
        this->StartWrite(&current_, op.buffer ? grpc::WriteOptions().set_buffer_hint() : grpc::WriteOptions());
        break;
      case StreamOp::kWriteAndFinish:
        this->StartWriteAndFinish(&current_, grpc::WriteOptions(), grpc::Status::OK);
        break;
      case StreamOp::kFinish: this->Finish(op.status); break;
    }
  }

  StreamOp DeliverLocked(const std::vector<v1::RunEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const v1::RunEvent& event : events) CountChildLocked(event);
    const size_t runs = cursors_.size() + (include_children_ ? 0 : children_seen_);
    const size_t room = pending_.size() < kMaxPending ? kMaxAdmitted : kRoomPerRun * runs;
    const size_t limit = kMaxPending + std::min(kMaxAdmitted, room);
    for (const v1::RunEvent& event : events) {
      auto it = cursors_.find(event.run_id());
      if (it == cursors_.end() || event.seq() <= it->second.last_queued) continue;
      if (event.seq() != it->second.last_queued + 1 || pending_.size() >= limit || resync_needed_) {
        // Behind: the subscriber is told with a Gap before the events read again.
        if (pending_.size() >= limit) gap_pending_ = true;
        resync_needed_ = true;
        continue;
      }
      QueueGapLocked();  // live text was dropped before this event
      pending_.push_back(event);
      it->second.last_queued = event.seq();
    }
    return StartIfIdleLocked();
  }

  StreamOp DeliverLiveLocked(const std::vector<v1::RunEvent>& events) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    for (const v1::RunEvent& event : events) {
      if (resync_needed_ || pending_.size() >= kMaxPendingLive) {
        DropLiveLocked(1);
        continue;
      }
      QueueGapLocked();
      pending_.push_back(event);
    }
    return StartIfIdleLocked();
  }

  StreamOp StartIfIdleLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (writing_ || reading_ || pending_.empty()) return {};
    return StartNextLocked();
  }

  void DropLiveLocked(int64_t n) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (n == 0) return;
    dropped_live_ += n;
    hub_.live_deltas_dropped().Increment(static_cast<double>(n));
  }

  // The watched run's terminal event ends the stream.
  bool IsEndLocked(const v1::RunEvent& event) const { return event.run_id() == run_id_ && IsTerminalEvent(event); }

  // A ChildStarted (or a graph's NodeStarted) of a followed run, new to the stream:
  // with include_children the watch follows the child from its first event, else it
  // only counts it (its results come as the parent's own events). Each such event is
  // counted once (its seq is past the cursor only until it is queued; one the stream
  // reads from the store after a gap is not counted).
  void CountChildLocked(const v1::RunEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (ChildOf(event).empty()) return;
    auto it = cursors_.find(event.run_id());
    if (it == cursors_.end() || event.seq() <= it->second.last_queued) return;
    if (!include_children_) ++children_seen_;
    FollowChildLocked(event);
  }

  // With include_children, a ChildStarted (or a graph's NodeStarted) of a followed run starts following the child
  // from its first event. Returns whether it did.
  bool FollowChildLocked(const v1::RunEvent& event) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const std::string& child = ChildOf(event);
    if (!include_children_ || child.empty() || !cursors_.contains(event.run_id())) return false;
    return cursors_.try_emplace(child).second;
  }

  // Reads the events after the last ones sent from the store, merges what the hub
  // delivered meanwhile, and starts writing.
  void Resync() {
    while (true) {
      std::vector<std::pair<std::string, int64_t>> from;
      {
        absl::MutexLock lock(&mu_);
        if (finished_ || writing_ || reading_) return;
        reading_ = true;
        resync_needed_ = false;
        for (const v1::RunEvent& event : pending_) DropLiveLocked(event.seq() == 0 ? 1 : 0);
        pending_.clear();
        for (auto& [id, cursor] : cursors_) {
          from.emplace_back(id, cursor.last_sent);
          cursor.last_queued = cursor.last_sent;
        }
      }
      absl::Status error;
      std::vector<std::vector<v1::RunEvent>> read(from.size());
      bool watched_run_quiet = false;
      for (size_t i = 0; i < from.size() && error.ok(); ++i) {
        absl::StatusOr<std::vector<v1::RunEvent>> events = store_.ReadEvents(from[i].first, from[i].second, kReadBatch);
        if (!events.ok()) {
          error = events.status();
        } else {
          read[i] = std::move(*events);
          if (from[i].first == run_id_) watched_run_quiet = read[i].empty();
        }
      }
      absl::StatusOr<v1::Run> run = absl::UnknownError("not read");
      if (error.ok() && watched_run_quiet) run = scheduler_.GetRun(run_id_);
      // Asked after the read: a step journaled since is then either in the read or
      // delivered meanwhile, or its live start is no longer in the hub.
      std::optional<v1::RunEvent> live_start;
      if (live_text_) live_start = hub_.LiveStepStarted(run_id_);
      StreamOp op;
      bool again = false;
      {
        absl::MutexLock lock(&mu_);
        reading_ = false;
        if (finished_) return;
        op = MergeReadLocked(from, read, error, watched_run_quiet, run, std::move(live_start), &again);
      }
      Perform(op);
      if (!again) return;
    }
  }

  // The second half of Resync: merges what was read with what the hub delivered
  // meanwhile and decides what to start. *again: read the store once more.
  StreamOp MergeReadLocked(const std::vector<std::pair<std::string, int64_t>>& from,
                           std::vector<std::vector<v1::RunEvent>>& read, const absl::Status& error,
                           bool watched_run_quiet, const absl::StatusOr<v1::Run>& run,
                           std::optional<v1::RunEvent> live_start, bool* again)
      ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (!error.ok()) return FinishLocked(ToGrpcStatus(error));
    // Live events that came meanwhile are dropped: the durable events hold the whole
    // text of every finished step.
    std::deque<v1::RunEvent> delivered;
    for (v1::RunEvent& event : pending_) {
      if (event.seq() == 0) {
        DropLiveLocked(1);
      } else {
        delivered.push_back(std::move(event));
      }
    }
    pending_.clear();
    QueueGapLocked();
    std::deque<v1::RunEvent> merged(std::make_move_iterator(pending_.begin()),
                                    std::make_move_iterator(pending_.end()));
    pending_.clear();
    absl::flat_hash_map<std::string, int64_t> last;
    for (size_t i = 0; i < from.size(); ++i) {
      last[from[i].first] = read[i].empty() ? from[i].second : read[i].back().seq();
      if (static_cast<int>(read[i].size()) == kReadBatch) resync_needed_ = true;
      for (v1::RunEvent& event : read[i]) {
        // A child not followed yet is read on the next pass.
        if (FollowChildLocked(event)) resync_needed_ = true;
        merged.push_back(std::move(event));
      }
    }
    for (v1::RunEvent& event : delivered) {
      auto it = last.find(event.run_id());
      if (it == last.end()) {
        resync_needed_ = true;  // a run followed since the read began
        continue;
      }
      if (event.seq() <= it->second) continue;  // read from the store already
      if (event.seq() != it->second + 1) {
        resync_needed_ = true;
        continue;
      }
      it->second = event.seq();
      merged.push_back(std::move(event));
    }
    // A stream that starts mid-step is told, after the run's history, which step and
    // model the live text to come belongs to: the step's live start was published
    // before it subscribed. Only when the first read reaches the history's end: later
    // resyncs (after a gap) follow live starts the stream has had.
    if (!caught_up_ && !resync_needed_) {
      if (live_start.has_value() && !StepJournaledIn(merged, *live_start)) merged.push_back(*std::move(live_start));
      caught_up_ = true;
    }
    // The watched run's terminal event ends the stream, so it goes after the events
    // of the runs below it; when this pass found runs to follow that it has not read
    // yet, it waits for the next pass (a tree watched after it ended).
    auto end = std::find_if(merged.begin(), merged.end(), [this](const v1::RunEvent& e) { return IsEndLocked(e); });
    if (end != merged.end()) {
      v1::RunEvent terminal = std::move(*end);
      merged.erase(end);
      if (resync_needed_) {
        last[run_id_] = terminal.seq() - 1;
      } else {
        merged.push_back(std::move(terminal));
      }
    }
    for (const auto& [id, seq] : last) cursors_[id].last_queued = seq;
    pending_ = std::move(merged);
    if (!pending_.empty()) return writing_ ? StreamOp{} : StartNextLocked();
    if (resync_needed_) {
      *again = true;
      return {};
    }
    if (!watched_run_quiet) return {};
    if (!run.ok()) return FinishLocked(ToGrpcStatus(run.status()));
    // Nothing after `from` and the run is over: the watcher has seen its end.
    if (IsTerminal(run->state()) && run->last_event_seq() <= cursors_[run_id_].last_sent) {
      return FinishLocked(grpc::Status::OK);
    }
    return {};
  }

  // Queues a Gap event when live events were dropped or the stream fell behind.
  void QueueGapLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (dropped_live_ == 0 && !gap_pending_) return;
    v1::RunEvent gap;
    gap.set_run_id(run_id_);
    gap.set_time_ms(scheduler_.clock().NowMillis());
    gap.mutable_gap()->set_dropped(dropped_live_);
    gap.mutable_gap()->set_reason(gap_pending_ ? "subscriber fell behind; events resent from the journal"
                                               : "subscriber fell behind; live text dropped");
    pending_.push_back(std::move(gap));
    dropped_live_ = 0;
    gap_pending_ = false;
  }

  // Calls f on each event of current_, in order.
  template <typename F>
  void ForEachWritten(F f) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if constexpr (kBatched) {
      for (const v1::RunEvent& event : current_.events()) f(event);
    } else {
      f(current_);
    }
  }

  // Moves what the next write carries from pending_ (not empty) into current_;
  // returns whether it holds the watched run's terminal event (then last).
  bool TakeNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if constexpr (kBatched) {
      current_.Clear();
      size_t bytes = 0;
      while (!pending_.empty() && current_.events_size() < kMaxBatchEvents) {
        const size_t size = pending_.front().ByteSizeLong();
        if (current_.events_size() > 0 && bytes + size > kMaxBatchBytes) break;
        bytes += size;
        v1::RunEvent* event = current_.add_events();
        *event = std::move(pending_.front());
        pending_.pop_front();
        if (IsEndLocked(*event)) return true;
      }
      return false;
    } else {
      current_ = std::move(pending_.front());
      pending_.pop_front();
      return IsEndLocked(current_);
    }
  }

  StreamOp StartNextLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    const bool end = TakeNextLocked();
    writing_ = true;
    if (end) {
      // The run's last event and the end of the stream as one operation (no
      // OnWriteDone follows; OnDone does): one gRPC batch less per watched run.
      finished_ = true;
      return {StreamOp::kWriteAndFinish, grpc::Status::OK};
    }
    const bool buffer = wrote_ && !pending_.empty();
    wrote_ = true;
    return {StreamOp::kWrite, grpc::Status::OK, buffer};
  }

  // With a write started (or decided and about to start), Finish waits for its
  // OnWriteDone: a write must not be started after Finish.
  StreamOp FinishLocked(const grpc::Status& status) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) {
    if (finished_) return {};
    finished_ = true;
    if (writing_) {
      finish_after_write_ = status;
      return {};
    }
    return {StreamOp::kFinish, status};
  }

  Scheduler& scheduler_;
  RunStore& store_;
  EventHub& hub_;
  const std::string run_id_;
  // Where the tree's events are published: the root's id (run_id_ without children).
  const std::string root_id_;
  const bool live_text_;         // the subscriber asked for live events
  const bool include_children_;  // ... and for the events of the runs below

  absl::Mutex mu_;
  absl::flat_hash_map<std::string, Cursor> cursors_ ABSL_GUARDED_BY(mu_);
  size_t children_seen_ ABSL_GUARDED_BY(mu_) = 0;  // without include_children: CountChildLocked
  std::deque<v1::RunEvent> pending_ ABSL_GUARDED_BY(mu_);
  Message current_ ABSL_GUARDED_BY(mu_);  // what is being written
  bool writing_ ABSL_GUARDED_BY(mu_) = false;
  // Resync is reading the store: what the hub delivers meanwhile waits in pending_ (it
  // may be in the read too, and is sent once, after the merge), so nothing starts.
  bool reading_ ABSL_GUARDED_BY(mu_) = false;
  bool resync_needed_ ABSL_GUARDED_BY(mu_) = false;
  bool finished_ ABSL_GUARDED_BY(mu_) = false;
  std::optional<grpc::Status> finish_after_write_ ABSL_GUARDED_BY(mu_);
  // Live events dropped since the last Gap; a resync owed a Gap.
  int64_t dropped_live_ ABSL_GUARDED_BY(mu_) = 0;
  bool gap_pending_ ABSL_GUARDED_BY(mu_) = false;
  // A write was started: the initial metadata is on its way.
  bool wrote_ ABSL_GUARDED_BY(mu_) = false;
  // The first read reached the end of the history (and the hub's live start of the
  // step in flight was sent after it, if there was one).
  bool caught_up_ ABSL_GUARDED_BY(mu_) = false;
};

}  // namespace

namespace {

template <typename Message>
RunWatcher<Message>* NewWatcher(Scheduler& scheduler, RunStore& store, EventHub& hub, const std::string& run_id,
                                int64_t after_seq, bool live_text, bool include_children) {
  std::string root = run_id;
  std::vector<std::string> children;
  if (include_children) {
    absl::StatusOr<v1::Run> run = scheduler.GetRun(run_id);
    if (run.ok() && !run->root_run_id().empty()) root = run->root_run_id();
    // Children started before after_seq are followed too (a watch resumed after a
    // reconnect); their own children are found in their events.
    if (after_seq > 0) {
      absl::StatusOr<std::vector<v1::RunEvent>> earlier =
          store.ReadEvents(run_id, 0, static_cast<int>(std::min<int64_t>(after_seq, 1 << 30)));
      if (earlier.ok()) {
        for (const v1::RunEvent& event : *earlier) {
          if (!ChildOf(event).empty()) children.push_back(ChildOf(event));
        }
      }
    }
  }
  return new RunWatcher<Message>(scheduler, store, hub, run_id, std::move(root), after_seq, live_text,
                                 include_children, children);
}

}  // namespace

grpc::ServerWriteReactor<v1::RunEvent>* NewRunWatcher(Scheduler& scheduler, RunStore& store, EventHub& hub,
                                                      const std::string& run_id, int64_t after_seq,
                                                      bool live_text, bool include_children) {
  return NewWatcher<v1::RunEvent>(scheduler, store, hub, run_id, after_seq, live_text, include_children);
}

grpc::ServerWriteReactor<v1::RunEventBatch>* NewBatchedRunWatcher(Scheduler& scheduler, RunStore& store,
                                                                  EventHub& hub, const std::string& run_id,
                                                                  int64_t after_seq, bool live_text,
                                                                  bool include_children) {
  return NewWatcher<v1::RunEventBatch>(scheduler, store, hub, run_id, after_seq, live_text, include_children);
}

}  // namespace baton::orchestrator
