#include "orchestrator/scheduler.h"

#include <algorithm>
#include <memory>
#include <random>

#include "absl/strings/str_cat.h"
#include "google/protobuf/io/coded_stream.h"
#include "google/protobuf/io/zero_copy_stream_impl_lite.h"
#include "absl/strings/str_format.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/namespaces.h"
#include "common/status_macros.h"
#include "common/transcript.h"
#include "orchestrator/run_trace.h"
#include "orchestrator/store/run_id.h"
#include "orchestrator/validation.h"
#include "orchestrator/store/store_keys.h"

namespace baton::orchestrator {

namespace {

// At most this many plain appends of a run go without its record (AppendStep).
constexpr int32_t kMaxPlainAppends = 64;

}  // namespace

Scheduler::Scheduler(RunStore& store, const Clock& clock, SchedulerOptions options)
    : store_(store), clock_(clock), options_(options) {}

Scheduler::~Scheduler() { Shutdown(); }

void Scheduler::SetEventListener(EventListener listener) { event_listener_ = std::move(listener); }

absl::Status Scheduler::Recover() {
  std::vector<QueueEntry> queued;
  std::vector<LeaseRecord> leases;
  if (absl::Status s = store_.ScanQueue([&](const QueueEntry& e) { queued.push_back(e); }); !s.ok()) {
    return s;
  }
  if (absl::Status s = store_.ScanLeases([&](const LeaseRecord& l) { leases.push_back(l); });
      !s.ok()) {
    return s;
  }
  const int64_t now_ms = clock_.NowMillis();
  absl::MutexLock lock(&mu_);
  for (const QueueEntry& e : queued) {
    absl::StatusOr<std::optional<v1::Run>> run = store_.GetRun(e.run_id);
    if (!run.ok()) return run.status();
    if (!run->has_value() || (*run)->state() != v1::QUEUED) {
      BATON_LOG(WARNING) << "queue entry for " << e.run_id << " has no queued run; ignored";
      continue;
    }
    ActiveRun& active = active_[e.run_id];
    active.run = std::move(**run);
    active.enqueue_time_ms = e.enqueue_time_ms;
    NamespaceState& ns = NamespaceOfLocked(active.run);
    ++ns.queued;
    if (active.run.not_before_ms() > now_ms) {
      delayed_.insert({active.run.not_before_ms(), e.run_id});
    } else {
      ns.queue.insert(QueueKey{e.priority, e.enqueue_time_ms, e.run_id});
    }
  }
  for (const LeaseRecord& l : leases) {
    absl::StatusOr<std::optional<v1::Run>> run = store_.GetRun(l.run_id);
    if (!run.ok()) return run.status();
    if (!run->has_value() || (*run)->state() != v1::RUNNING) {
      BATON_LOG(WARNING) << "lease for " << l.run_id << " has no running run; ignored";
      continue;
    }
    absl::StatusOr<size_t> behind = CatchUpRecordLocked(**run);
    if (!behind.ok()) return behind.status();
    ActiveRun& active = active_[l.run_id];
    active.run = std::move(**run);
    // The stored record still trails by these: the next put comes that much sooner.
    active.plain_appends = static_cast<int32_t>(std::min<size_t>(*behind, kMaxPlainAppends));
    LeaseRecord lease = l;
    lease.deadline_ms = now_ms + absl::ToInt64Milliseconds(options_.lease_ttl);
    GrantLeaseLocked(active, std::move(lease), /*taken_up=*/true);
  }
  std::vector<std::string> waiting;
  if (absl::Status s = store_.ScanWaiting([&](const std::string& id) { waiting.push_back(id); }); !s.ok()) {
    return s;
  }
  for (const std::string& run_id : waiting) {
    absl::StatusOr<std::optional<v1::Run>> run = store_.GetRun(run_id);
    if (!run.ok()) return run.status();
    if (!run->has_value() || (*run)->state() != v1::WAITING) {
      BATON_LOG(WARNING) << "waiting entry for " << run_id << " has no waiting run; ignored";
      continue;
    }
    if ((*run)->has_graph()) {
      if (absl::Status s = RecoverGraphLocked(**run); !s.ok()) return s;
    }
    active_[run_id].run = std::move(**run);
  }
  // What links the active runs: children, session successors.
  for (const auto& [run_id, active] : active_) {
    if (!active.run.parent_run_id().empty()) children_of_[active.run.parent_run_id()].insert(run_id);
    for (const v1::Wait& wait : active.run.waits()) {
      if (!wait.done() && wait.what_case() == v1::Wait::kPreviousRunId) {
        session_waiters_[wait.previous_run_id()] = run_id;
      }
    }
  }
  // Approvals not decided yet (their deadlines may have passed while the orchestrator
  // was down: the first tick expires them, and decisions check the deadline).
  ApprovalFilter pending;
  std::string token;
  do {
    absl::StatusOr<ApprovalPage> page = store_.ListApprovals(pending, 1000, token);
    if (!page.ok()) return page.status();
    for (v1::Approval& approval : page->approvals) {
      if (!active_.contains(approval.run_id())) continue;  // its run ended meanwhile
      approval_deadlines_.insert({approval.expire_time_ms(), approval.approval_id()});
      RememberApprovalLocked(std::move(approval));
    }
    token = page->next_page_token;
  } while (!token.empty());
  absl::StatusOr<std::vector<v1::Namespace>> settings = store_.ListNamespaces();
  if (!settings.ok()) return settings.status();
  for (const v1::Namespace& ns : *settings) namespaces_[ns.name()].quotas = ns.quotas();
  size_t queued_now = 0;
  for (const auto& [name, ns] : namespaces_) queued_now += ns.queued;
  BATON_LOG(INFO) << "recovered " << queued_now << " queued, "
                  << lease_deadlines_.size() << " leased and " << waiting.size() << " waiting runs, "
                  << approvals_.size() << " pending approvals";
  return absl::OkStatus();
}

void Scheduler::Start() {
  ticker_ = std::thread([this] { TickerLoop(); });
}

void Scheduler::Shutdown() {
  std::vector<PollBatchCallback> to_answer;
  {
    absl::MutexLock lock(&mu_);
    shutdown_ = true;
    ticker_stop_ = true;
    for (auto& [id, poll] : polls_) to_answer.push_back(std::move(poll.done));
    polls_.clear();
  }
  for (auto& done : to_answer) done(std::vector<TaskGrant>());
  if (ticker_.joinable()) ticker_.join();
}

void Scheduler::TickerLoop() {
  while (true) {
    {
      absl::MutexLock lock(&mu_);
      auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return ticker_stop_; };
      mu_.AwaitWithTimeout(absl::Condition(&stop), options_.tick_interval);
      if (ticker_stop_) return;
    }
    Tick();
  }
}

std::string Scheduler::NewLeaseIdLocked() {
  static thread_local std::mt19937_64 rng{std::random_device{}()};
  return absl::StrFormat("lease_%d_%08x", ++lease_counter_, static_cast<uint32_t>(rng()));
}

v1::RunEvent& Scheduler::NewEventLocked(v1::Run& run, StoreBatch& batch) {
  v1::RunEvent& event = batch.events.emplace_back();
  event.set_run_id(run.run_id());
  if (!run.root_run_id().empty() && run.root_run_id() != run.run_id()) event.set_root_run_id(run.root_run_id());
  event.set_seq(run.last_event_seq() + 1);
  event.set_time_ms(clock_.NowMillis());
  run.set_last_event_seq(event.seq());
  return event;
}

void Scheduler::AddStateEventLocked(v1::Run& run, const std::string& reason, StoreBatch& batch) {
  v1::RunEvent& event = NewEventLocked(run, batch);
  auto* sc = event.mutable_state_changed();
  sc->set_state(run.state());
  sc->set_reason(reason);
  sc->set_attempt(run.attempt());
  sc->set_worker_id(run.worker_id());
  sc->set_failure_kind(run.failure_kind());
  sc->set_lease_losses(run.lease_losses());
}

void Scheduler::EnqueueLocked(ActiveRun& active, StoreBatch& batch) {
  v1::Run& run = active.run;
  run.set_state(v1::QUEUED);
  run.clear_worker_id();
  ReleaseLeaseLocked(active, batch);
  active.enqueue_time_ms = clock_.NowMillis();
  QueueEntry entry{run.priority(), active.enqueue_time_ms, run.run_id()};
  batch.queue_puts.push_back(entry);
  NamespaceState& ns = NamespaceOfLocked(run);
  ++ns.queued;
  if (run.not_before_ms() > clock_.NowMillis()) {
    delayed_.insert({run.not_before_ms(), run.run_id()});
  } else {
    ns.queue.insert(QueueKey{entry.priority, entry.enqueue_time_ms, entry.run_id});
  }
}

void Scheduler::DequeueLocked(ActiveRun& active, StoreBatch& batch) {
  const v1::Run& run = active.run;
  NamespaceState& ns = NamespaceOfLocked(run);
  ns.queue.erase(QueueKey{run.priority(), active.enqueue_time_ms, run.run_id()});
  --ns.queued;
  delayed_.erase({run.not_before_ms(), run.run_id()});
  // Queued by this same batch (a run created or made ready, and leased, in one write):
  // its entry was never stored, so neither the put nor a delete is written. The store
  // applies a batch's queue deletes before its puts, so both would leave it stored.
  auto queued_here = std::find_if(batch.queue_puts.rbegin(), batch.queue_puts.rend(), [&](const QueueEntry& put) {
    return put.enqueue_time_ms == active.enqueue_time_ms && put.run_id == run.run_id();
  });
  if (queued_here != batch.queue_puts.rend()) {
    batch.queue_puts.erase(std::next(queued_here).base());
    return;
  }
  batch.queue_deletes.push_back(QueueEntry{run.priority(), active.enqueue_time_ms, run.run_id()});
}

Scheduler::NamespaceState& Scheduler::NamespaceOfLocked(const v1::Run& run) {
  return namespaces_[std::string(NamespaceOfRunId(run.run_id()))];
}

void Scheduler::GrantLeaseLocked(ActiveRun& active, LeaseRecord lease, bool taken_up) {
  lease_deadlines_.insert({lease.deadline_ms, lease.run_id});
  active.lease = std::move(lease);
  active.lease_taken_up = taken_up;
  ++NamespaceOfLocked(active.run).running;
}

void Scheduler::ExtendLeaseLocked(ActiveRun& active) {
  LeaseRecord& lease = *active.lease;
  lease_deadlines_.erase({lease.deadline_ms, lease.run_id});
  lease.deadline_ms = clock_.NowMillis() + absl::ToInt64Milliseconds(options_.lease_ttl);
  lease_deadlines_.insert({lease.deadline_ms, lease.run_id});
  active.lease_taken_up = true;
}

namespace {
// The take-up window in effect: zero when off, at most the TTL.
absl::Duration TakeUpWindow(const SchedulerOptions& options) {
  return std::max(absl::ZeroDuration(), std::min(options.lease_take_up, options.lease_ttl));
}
}  // namespace

void Scheduler::StartTakeUpWindow(const LeaseRecord& sent) {
  const absl::Duration window = TakeUpWindow(options_);
  if (window == absl::ZeroDuration()) return;
  absl::MutexLock lock(&mu_);
  auto it = active_.find(sent.run_id);
  if (it == active_.end()) return;
  ActiveRun& active = it->second;
  // Taken up already (the worker was quick), or no longer this grant's.
  if (active.lease_taken_up || !active.lease.has_value() || active.lease->lease_id != sent.lease_id) return;
  LeaseRecord& lease = *active.lease;
  lease_deadlines_.erase({lease.deadline_ms, lease.run_id});
  lease.deadline_ms = std::min(lease.deadline_ms, clock_.NowMillis() + absl::ToInt64Milliseconds(window));
  lease_deadlines_.insert({lease.deadline_ms, lease.run_id});
}

void Scheduler::ReleaseLeaseLocked(ActiveRun& active, StoreBatch& batch) {
  if (!active.lease.has_value()) return;
  lease_deadlines_.erase({active.lease->deadline_ms, active.run.run_id()});
  batch.lease_deletes.push_back(active.run.run_id());
  active.lease.reset();
  --NamespaceOfLocked(active.run).running;
}

absl::Status Scheduler::AdmitCreateLocked(const std::string& name) {
  NamespaceState& ns = namespaces_[name];
  const v1::NamespaceQuotas& quotas = ns.quotas;
  if (quotas.max_queued_runs() > 0 && ns.queued >= static_cast<size_t>(quotas.max_queued_runs())) {
    // Nothing says when a run will leave the queue: a second is a polite guess.
    return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                              "namespace \"", name, "\" has ", ns.queued, " runs queued, its max_queued_runs quota")),
                          absl::Seconds(1));
  }
  if (const double rate = quotas.max_creates_per_second(); rate > 0) {
    // A bucket holding one second of creates (at least one), refilled continuously.
    const double capacity = std::max(rate, 1.0);
    const int64_t now_ms = clock_.NowMillis();
    if (!ns.bucket_started) {
      ns.bucket_started = true;
      ns.create_tokens = capacity;
    } else {
      ns.create_tokens =
          std::min(capacity, ns.create_tokens + rate * static_cast<double>(now_ms - ns.tokens_time_ms) / 1000);
    }
    ns.tokens_time_ms = now_ms;
    if (ns.create_tokens < 1) {
      const absl::Duration wait = absl::Milliseconds(std::ceil((1 - ns.create_tokens) / rate * 1000));
      return WithRetryDelay(absl::ResourceExhaustedError(absl::StrCat(
                                "namespace \"", name, "\" is over its max_creates_per_second quota (", rate, ")")),
                            wait);
    }
    ns.create_tokens -= 1;
  }
  return absl::OkStatus();
}

std::optional<Scheduler::QueueKey> Scheduler::NextForLocked(const Poll& poll) {
  const QueueKey* best = nullptr;
  for (const auto& [name, ns] : namespaces_) {
    if (ns.queue.empty()) continue;
    if (!poll.namespaces.empty() && !NamespaceAllowed(poll.namespaces, name)) continue;
    if (ns.quotas.max_concurrent_runs() > 0 && ns.running >= static_cast<size_t>(ns.quotas.max_concurrent_runs())) {
      continue;
    }
    if (best == nullptr || *ns.queue.begin() < *best) best = &*ns.queue.begin();
  }
  if (best == nullptr) return std::nullopt;
  return *best;
}

void Scheduler::PutNamespace(v1::Namespace settings, std::function<void(absl::StatusOr<v1::Namespace>)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  {
    absl::MutexLock lock(&mu_);
    settings.set_update_time_ms(clock_.NowMillis());
    StoreBatch batch;
    batch.namespaces.push_back(settings);
    // In memory at once: calls decided after this one see the new quotas. A raised
    // max_concurrent_runs may let queued runs go.
    namespaces_[settings.name()].quotas = settings.quotas();
    CommitAndMatchLocked(std::move(batch), [settings, done = std::move(done)]() { done(settings); }, deferred);
  }
  RunAll(deferred);
}

void Scheduler::FinishLocked(const std::string& run_id, v1::RunState state,
                             const std::string& reason, v1::FailureKind kind, StoreBatch& batch,
                             Deferred& deferred) {
  auto it = active_.find(run_id);
  BATON_CHECK(it != active_.end()) << run_id;
  ActiveRun& active = it->second;
  if (active.run.state() == v1::QUEUED) DequeueLocked(active, batch);
  if (active.run.state() == v1::WAITING) batch.waiting_deletes.push_back(run_id);
  ReleaseLeaseLocked(active, batch);
  if (active.run.has_graph()) {
    graphs_.erase(run_id);
    if (active.run.graph().limits().timeout_seconds() > 0) {
      graph_deadlines_.erase(
          {active.run.create_time_ms() + active.run.graph().limits().timeout_seconds() * 1000, run_id});
    }
  }
  v1::Run& run = active.run;
  run.set_state(state);
  run.set_end_time_ms(clock_.NowMillis());
  metrics_.runs_ended.With({{"namespace", std::string(NamespaceOfRunId(run_id))}, {"state", v1::RunState_Name(state)}})
      .Increment();
  run.set_failure_kind(kind);
  if (state != v1::SUCCEEDED) run.set_error(reason);
  if (state == v1::SUCCEEDED) {
    // The final output comes before the terminal state change: watchers stop at it.
    v1::RunEvent& final_event = NewEventLocked(run, batch);
    final_event.mutable_final_output()->set_text(run.output());
    *final_event.mutable_final_output()->mutable_usage() = run.usage();
  }
  AddStateEventLocked(run, reason, batch);
  // Whole, parts and all (the store keeps only the record of it): the run's last put,
  // which CreateRun and CancelRun answer with.
  batch.put_runs.push_back(run);
  // After the lock is released; the copy only when the span goes anywhere.
  if (run.has_graph() && GraphRunSpanWanted(run)) deferred.push_back([run] { ExportGraphRunSpan(run); });
  v1::Run ended = std::move(run);
  active_.erase(it);
  OnRunEndedLocked(ended, batch, deferred);
}

namespace {
// Set while Scheduler::CommitLocked is inside RunStore::CommitAsync, to tell a
// completion that runs inline (still under the scheduler's mutex).
thread_local Scheduler* t_committing = nullptr;
}  // namespace

void Scheduler::CommitLocked(StoreBatch batch, std::function<void()> after, Deferred& deferred) {
  // The store encodes the batch on its own thread, after this lock is released; its
  // events are published from it once durable, without a copy.
  auto shared = std::make_shared<const StoreBatch>(std::move(batch));
  // Decided approvals stay in memory until their decision is durable, so a repeated
  // decision is checked against it rather than a store that trails.
  std::vector<std::string> decided;
  for (const v1::Approval& approval : shared->approvals) {
    if (approval.state() != v1::Approval::PENDING) decided.push_back(approval.approval_id());
  }
  auto complete = [this, shared, decided = std::move(decided), after = std::move(after)](absl::Status status) {
    const std::vector<v1::RunEvent>& events = shared->events;
    if (!status.ok()) {
      // Memory already holds the decision; answering "not durable" would leave the
      // two apart. A restart recovers a consistent state from the store.
      BATON_LOG(FATAL) << "store commit failed, restarting from durable state: " << status;
    }
    if (!decided.empty()) {
      absl::MutexLock lock(&mu_);
      for (const std::string& id : decided) {
        auto it = approvals_.find(id);
        if (it != approvals_.end() && it->second.state() != v1::Approval::PENDING) ForgetApprovalLocked(id);
      }
    }
    if (!events.empty() && event_listener_) event_listener_(events);
    if (after) after();
  };
  Deferred* inline_sink = &deferred;
  t_committing = this;
  store_.CommitAsync(std::move(shared),
                     [this, inline_sink, complete = std::move(complete)](absl::Status status) mutable {
                       if (t_committing == this) {
                         inline_sink->push_back(
                             [complete = std::move(complete), status]() mutable { complete(status); });
                       } else {
                         complete(status);
                       }
                     });
  t_committing = nullptr;
}

v1::RunState Scheduler::StateIn(const StoreBatch& batch, const std::string& run_id) {
  v1::RunState state = v1::RUN_STATE_UNSPECIFIED;
  for (const v1::Run& put : batch.put_runs) {
    if (put.run_id() == run_id) state = put.state();  // the last put wins
  }
  return state;
}

void Scheduler::PutRunRecord(v1::Run& run, StoreBatch& batch) {
  // The parts move out and back without a copy; the record keeps what ListRuns'
  // filters and index keys read (StoreBatch, store_keys::StoredRecord).
  google::protobuf::RepeatedPtrField<v1::Wait> waits;
  waits.Swap(run.mutable_waits());
  std::string input;
  input.swap(*run.mutable_input());
  std::unique_ptr<v1::AgentSpec> agent;
  if (run.has_agent()) {
    agent.reset(run.release_agent());
    *run.mutable_agent() = store_keys::AgentSummary(*agent);
  }
  std::unique_ptr<v1::GraphSpec> graph;
  if (run.has_graph()) {
    graph.reset(run.release_graph());
    *run.mutable_graph() = store_keys::GraphSummary(*graph);
  }
  batch.put_runs.push_back(run);
  run.mutable_waits()->Swap(&waits);
  run.mutable_input()->swap(input);
  if (agent != nullptr) run.set_allocated_agent(agent.release());
  if (graph != nullptr) run.set_allocated_graph(graph.release());
}

void Scheduler::PutWait(const v1::Run& run, int index, StoreBatch& batch) {
  batch.wait_writes.push_back(WaitWrite{run.run_id(), index, run.waits(index)});
}

void Scheduler::DeleteWaits(const v1::Run& run, StoreBatch& batch) {
  for (int i = 0; i < run.waits_size(); ++i) batch.wait_writes.push_back(WaitWrite{run.run_id(), i, std::nullopt});
}

void Scheduler::RunAll(Deferred& deferred) {
  // A deferred step may add more (a completion that leases a run, say).
  for (size_t i = 0; i < deferred.size(); ++i) deferred[i]();
}

void Scheduler::CreateRun(v1::Run run, RunCallback done) { Create(std::move(run), {}, std::move(done)); }

void Scheduler::ForkRun(ForkParams params, RunCallback done) {
  Create(std::move(params.run), std::move(params.journal), std::move(done));
}

namespace {

// FNV-1a over the agent (deterministically serialized) and the input: stable across
// processes and builds, unlike std::hash.
uint64_t RequestFingerprint(const v1::Run& run) {
  std::string bytes;
  {
    google::protobuf::io::StringOutputStream stream(&bytes);
    google::protobuf::io::CodedOutputStream out(&stream);
    out.SetSerializationDeterministic(true);
    run.agent().SerializeToCodedStream(&out);
    run.graph().SerializeToCodedStream(&out);
  }
  bytes.push_back('\0');
  bytes.append(run.input());
  bytes.push_back('\0');
  bytes.append(absl::StrCat(run.forked_from(), ":", run.forked_at_seq()));
  uint64_t h = 14695981039346656037ull;
  for (unsigned char c : bytes) {
    h ^= c;
    h *= 1099511628211ull;
  }
  return h;
}

}  // namespace

absl::Status Scheduler::CheckCommitBacklog() const {
  const size_t backlog = store_.CommitBacklogBytes();
  if (options_.max_commit_backlog_bytes == 0 || backlog <= options_.max_commit_backlog_bytes) {
    return absl::OkStatus();
  }
  constexpr absl::Duration kRetryAfter = absl::Milliseconds(200);
  return WithRetryDelay(
      absl::ResourceExhaustedError(absl::StrCat(
          "the orchestrator's store is behind: ", backlog >> 10, " KiB of writes wait to be written (bound: ",
          options_.max_commit_backlog_bytes >> 10, " KiB, --max-commit-backlog-mb); retry after ",
          absl::FormatDuration(kRetryAfter))),
      kRetryAfter);
}

// What Create reads from the store before it takes the mutex.
struct Scheduler::CreateReads {
  std::optional<std::string> request_run;  // the run a request_id was used for
  std::optional<std::string> session_head;  // the session's latest run
  int32_t session_head_seq = 0;             // ... and its session_seq
};

absl::StatusOr<Scheduler::CreateReads> Scheduler::ReadForCreate(const v1::Run& run) {
  CreateReads reads;
  const std::string& ns = run.namespace_();
  if (!run.request_id().empty()) {
    ASSIGN_OR_RETURN(reads.request_run, store_.LookupRequestId(ns, run.request_id()));
    if (reads.request_run.has_value()) return reads;
  }
  if (!run.session_id().empty()) {
    ASSIGN_OR_RETURN(reads.session_head, store_.GetSessionHead(ns, run.session_id()));
    if (reads.session_head.has_value()) {
      ASSIGN_OR_RETURN(std::optional<v1::Run> head, store_.GetRun(*reads.session_head));
      if (head.has_value()) reads.session_head_seq = head->session_seq();
    }
  }
  return reads;
}

void Scheduler::Create(v1::Run run, std::vector<v1::JournalEntry> journal, RunCallback done) {
  // A full disk (RunStore::CheckWritable): refused before anything is decided.
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  if (absl::Status backlog = CheckCommitBacklog(); !backlog.ok()) return done(backlog);
  Deferred deferred;
  if (run.namespace_().empty()) run.set_namespace_(kDefaultNamespace);
  const std::string ns = run.namespace_();
  if (!run.request_id().empty()) run.set_request_fingerprint(RequestFingerprint(run));
  const std::string request_key = store_keys::ScopedKey(ns, run.request_id());
  const std::string session_key = store_keys::ScopedKey(ns, run.session_id());
  const bool keyed = !run.request_id().empty() || !run.session_id().empty();
  std::optional<std::string> existing;
  absl::Status refused;
  // The store is read without the mutex. A create of the same request or session id
  // is either visible to that read (its commit answered before), still pending under
  // the mutex (pending_*), or answered in between, which moves keyed_commits_: then
  // the reads are done again. The counter is shared by every key, so under a stream of
  // keyed creates a third try reads under the mutex rather than try again.
  constexpr int kTriesWithoutMutex = 3;
  bool created = false;
  for (int tries = 1; !created; ++tries) {
    const uint64_t commits_before = keyed_commits_.load(std::memory_order_acquire);
    const bool read_under_mutex = keyed && tries >= kTriesWithoutMutex;
    CreateReads reads;
    if (keyed && !read_under_mutex) {
      absl::StatusOr<CreateReads> read = ReadForCreate(run);
      if (!read.ok()) return done(read.status());
      reads = *std::move(read);
    }
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      refused = absl::UnavailableError("orchestrator is shutting down");
      break;
    }
    if (read_under_mutex) {
      absl::StatusOr<CreateReads> read = ReadForCreate(run);
      if (!read.ok()) {
        refused = read.status();
        break;
      }
      reads = *std::move(read);
    } else if (keyed_commits_.load(std::memory_order_acquire) != commits_before) {
      continue;
    }
    if (!run.request_id().empty()) {
      if (auto it = pending_request_ids_.find(request_key); it != pending_request_ids_.end()) {
        existing = it->second;
      } else {
        existing = reads.request_run;
      }
      if (existing.has_value()) break;
    }
    if (absl::Status admitted = AdmitCreateLocked(ns); !admitted.ok()) {
      refused = admitted;
      break;
    }
    // A session goes on from its latest run.
    if (!run.session_id().empty()) {
      std::optional<std::pair<std::string, int32_t>> head;
      if (auto it = pending_session_heads_.find(session_key); it != pending_session_heads_.end()) {
        head = it->second;
      } else if (reads.session_head.has_value()) {
        head = {*reads.session_head, reads.session_head_seq};
      }
      if (head.has_value()) {
        run.set_continue_from(head->first);
        run.set_session_seq(head->second + 1);
      } else {
        run.set_session_seq(1);
      }
    }
    run.set_run_id(NewRunId(clock_, ns));
    StoreBatch batch;
    ActiveRun& active = AddRunLocked(std::move(run), batch);
    if (!journal.empty()) {
      // A fork: the prefix it starts from, with its events and usage.
      for (v1::JournalEntry& entry : journal) JournalLocked(active.run, std::move(entry), batch);
      PutRunRecord(active.run, batch);
    }
    const std::string run_id = active.run.run_id();
    if (active.run.has_graph()) StartGraphLocked(active, batch, deferred);
    if (!active.run.session_id().empty()) {
      batch.session_heads.push_back({active.run.session_id(), active.run.run_id()});
      pending_session_heads_[session_key] = {active.run.run_id(), active.run.session_seq()};
    }
    const std::string request_id = active.run.request_id();
    if (!request_id.empty()) {
      batch.request_ids.push_back({request_id, active.run.run_id()});
      pending_request_ids_[request_key] = active.run.run_id();
    }
    // The run as its creation leaves it (a graph run may have started nodes already, or
    // ended: then its last put, which FinishLocked makes whole); a parked poll's lease
    // of it, which joins the same write, is not in the answer.
    v1::Run created_run;
    if (auto it = active_.find(run_id); it != active_.end()) {
      created_run = it->second.run;
    } else {
      for (const v1::Run& put : batch.put_runs) {
        if (put.run_id() == run_id) created_run = put;
      }
    }
    CommitAndMatchLocked(
        std::move(batch),
        [this, created_run, request_key, session_key, done = std::move(done)]() {
          if (!created_run.request_id().empty() || !created_run.session_id().empty()) {
            absl::MutexLock lock(&mu_);
            pending_request_ids_.erase(request_key);
            // A later create may have moved the head on: only drop our own.
            if (auto it = pending_session_heads_.find(session_key);
                it != pending_session_heads_.end() && it->second.first == created_run.run_id()) {
              pending_session_heads_.erase(it);
            }
            keyed_commits_.fetch_add(1, std::memory_order_release);
          }
          done(created_run);
        },
        deferred);
    created = true;
  }
  if (!refused.ok()) return done(refused);
  if (existing.has_value()) {
    absl::StatusOr<v1::Run> found = GetRun(*existing);
    // Runs from before fingerprints (0) are taken on trust.
    if (found.ok() && found->request_fingerprint() != 0 &&
        found->request_fingerprint() != run.request_fingerprint()) {
      done(absl::FailedPreconditionError(absl::StrCat(
          "request_id: \"", run.request_id(), "\" was used for run ", *existing,
          " with another agent or input; use a new request_id for a different request")));
      return;
    }
    done(std::move(found));
    return;
  }
  RunAll(deferred);
}

absl::StatusOr<v1::Run> Scheduler::GetRun(const std::string& run_id) {
  {
    absl::MutexLock lock(&mu_);
    if (auto it = active_.find(run_id); it != active_.end()) return it->second.run;
  }
  absl::StatusOr<std::optional<v1::Run>> run = store_.GetRun(run_id);
  if (!run.ok()) return run.status();
  if (!run->has_value()) return absl::NotFoundError(absl::StrCat("run \"", run_id, "\" not found"));
  return std::move(**run);
}

std::optional<v1::Run> Scheduler::GetActiveRun(const std::string& run_id) {
  absl::MutexLock lock(&mu_);
  if (auto it = active_.find(run_id); it != active_.end()) return it->second.run;
  return std::nullopt;
}

void Scheduler::CancelRun(const std::string& run_id, const std::string& reason, RunCallback done, const std::string& by) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  bool not_active = false;
  {
    absl::MutexLock lock(&mu_);
    auto it = active_.find(run_id);
    if (it == active_.end()) {
      not_active = true;
    } else {
      ActiveRun& active = it->second;
      StoreBatch batch;
      const std::string who = by.empty() ? "" : absl::StrCat(" by ", by);
      const std::string why = absl::StrCat("cancelled", who, reason.empty() ? "" : ": ", reason);
      v1::Run result;
      if (active.run.state() == v1::QUEUED || active.run.state() == v1::WAITING) {
        active.run.set_cancel_requested(true);
        FinishLocked(run_id, v1::CANCELLED, why, v1::CANCELLED_BY_USER, batch, deferred);
        for (const v1::Run& put : batch.put_runs) {
          if (put.run_id() == run_id) result = put;
        }
      } else {
        // The holding worker learns it on its next heartbeat or AppendStep.
        active.run.set_cancel_requested(true);
        active.run.set_cancel_reason(why);
        AddStateEventLocked(active.run, absl::StrCat("cancel requested", who, reason.empty() ? "" : ": ", reason),
                            batch);
        PutRunRecord(active.run, batch);
        result = active.run;
      }
      CommitAndMatchLocked(std::move(batch), [result, done = std::move(done)]() { done(result); }, deferred);
    }
  }
  if (not_active) {
    // Unknown (NOT_FOUND) or already finished: cancelling is a no-op.
    done(GetRun(run_id));
    return;
  }
  RunAll(deferred);
}

uint64_t Scheduler::PollTask(const std::string& worker_id, absl::Time deadline, PollCallback done,
                             std::vector<std::string> namespaces) {
  return PollTasks(
      worker_id, deadline, 1,
      [done = std::move(done)](absl::StatusOr<std::vector<TaskGrant>> grants) {
        if (!grants.ok()) return done(grants.status());
        if (grants->empty()) return done(std::optional<TaskGrant>());
        done(std::optional<TaskGrant>(std::move(grants->front())));
      },
      std::move(namespaces));
}

uint64_t Scheduler::PollTasks(const std::string& worker_id, absl::Time deadline, int max_tasks,
                              PollBatchCallback done, std::vector<std::string> namespaces) {
  Deferred deferred;
  uint64_t id;
  {
    absl::MutexLock lock(&mu_);
    if (shutdown_) {
      id = 0;
      deferred.push_back([done = std::move(done)] { done(std::vector<TaskGrant>()); });
    } else {
      id = next_poll_id_++;
      polls_.emplace(id, Poll{worker_id, deadline, std::move(done), std::move(namespaces), std::max(max_tasks, 1)});
      MatchLocked(deferred);
    }
  }
  RunAll(deferred);
  return id;
}

void Scheduler::CancelPoll(uint64_t poll_id) {
  PollBatchCallback done;
  {
    absl::MutexLock lock(&mu_);
    auto it = polls_.find(poll_id);
    if (it == polls_.end()) return;
    done = std::move(it->second.done);
    polls_.erase(it);
  }
  done(std::vector<TaskGrant>());
}

namespace {

// What one poll's answer may carry beyond its first run (well under a worker's 64 MB
// receive limit).
constexpr size_t kMaxBatchedTaskBytes = 8 << 20;

// A run that resumes a journal or continues earlier runs goes alone: its task carries
// them, read after the lease is durable.
bool ResumesSomething(const v1::Run& run) {
  return run.last_journal_seq() > 0 || !run.continue_from().empty();
}

}  // namespace

void Scheduler::MatchLocked(Deferred& deferred) { CommitAndMatchLocked(StoreBatch(), nullptr, deferred); }

void Scheduler::CommitAndMatchLocked(StoreBatch decided, std::function<void()> after, Deferred& deferred) {
  // `decided` is still to be written: the first poll's leases join it.
  bool open = !decided.empty() || after != nullptr;
  // A lease is a write: polls stay parked while the disk is full (the ticker matches
  // them once it has room).
  if (!store_.CheckWritable().ok()) {
    if (open) CommitLocked(std::move(decided), std::move(after), deferred);
    return;
  }
  // Polls in arrival order; one that nothing queued suits (its namespaces are empty or
  // at their concurrency quota) stays parked and the next one gets a look.
  for (auto poll_it = polls_.begin(); poll_it != polls_.end();) {
    std::optional<QueueKey> key = NextForLocked(poll_it->second);
    if (!key.has_value()) {
      ++poll_it;
      continue;
    }
    Poll poll = std::move(poll_it->second);
    poll_it = polls_.erase(poll_it);
    // Every run this poll gets is leased in one batch, answered once it is durable.
    StoreBatch own_batch;
    StoreBatch& batch = open ? decided : own_batch;
    std::vector<TaskGrant> grants;
    size_t batched_bytes = 0;
    const int64_t now_ms = clock_.NowMillis();
    while (key.has_value()) {
      ActiveRun& active = active_.at(key->run_id);
      if (!grants.empty()) {
        if (ResumesSomething(active.run) || ResumesSomething(grants.front().run)) break;
        batched_bytes += active.run.ByteSizeLong();
        if (batched_bytes > kMaxBatchedTaskBytes) break;
      }
      DequeueLocked(active, batch);
      v1::Run& run = active.run;
      run.set_state(v1::RUNNING);
      run.set_epoch(run.epoch() + 1);
      run.set_worker_id(poll.worker_id);
      if (run.start_time_ms() == 0) {
        run.set_start_time_ms(now_ms);
        metrics_.submit_to_start.Observe(static_cast<double>(now_ms - run.create_time_ms()) / 1000);
      }
      LeaseRecord lease{run.run_id(), NewLeaseIdLocked(), run.epoch(),
                        now_ms + absl::ToInt64Milliseconds(options_.lease_ttl), poll.worker_id};
      // Until the grant is sent (after this batch is durable and the journal read) the
      // lease lasts a TTL; then the take-up window (StartTakeUpWindow).
      GrantLeaseLocked(active, lease, /*taken_up=*/false);
      metrics_.leases_granted.Increment();
      batch.lease_puts.push_back(lease);
      AddStateEventLocked(run, absl::StrCat("leased to ", poll.worker_id), batch);
      PutRunRecord(run, batch);
      grants.push_back(TaskGrant{run, lease, {}, {}});
      if (static_cast<int>(grants.size()) >= poll.max_tasks) break;
      key = NextForLocked(poll);
    }
    auto answer = [this, grants = std::move(grants), done = std::move(poll.done)]() mutable {
      if (grants.size() == 1) {
        // Only a run alone may resume something (see ResumesSomething).
        TaskGrant& grant = grants.front();
        if (grant.run.last_journal_seq() > 0) {
          absl::StatusOr<std::vector<v1::JournalEntry>> journal =
              store_.ReadJournal(grant.run.run_id());
          if (!journal.ok()) {
            // The lease stands and expires; the run is retried then.
            done(journal.status());
            return;
          }
          grant.journal = std::move(*journal);
        }
        if (!grant.run.continue_from().empty()) {
          absl::StatusOr<std::vector<v1::PriorRun>> history = ReadHistory(store_, grant.run);
          if (!history.ok()) {
            done(history.status());
            return;
          }
          grant.history = std::move(*history);
        }
      }
      for (const TaskGrant& grant : grants) StartTakeUpWindow(grant.lease);
      done(std::move(grants));
    };
    if (!open) {
      CommitLocked(std::move(own_batch), std::move(answer), deferred);
      continue;
    }
    open = false;
    CommitLocked(
        std::move(decided),
        [after = std::move(after), answer = std::move(answer)]() mutable {
          if (after) after();
          answer();
        },
        deferred);
  }
  if (open) CommitLocked(std::move(decided), std::move(after), deferred);
}

absl::StatusOr<Scheduler::ActiveRun*> Scheduler::CheckLeaseLocked(const LeaseRef& lease) {
  auto it = active_.find(lease.run_id);
  if (it == active_.end()) {
    metrics_.fencing_refusals.Increment();
    return absl::FailedPreconditionError(
        absl::StrCat("lease on run \"", lease.run_id, "\" is stale: the run is not running"));
  }
  ActiveRun& active = it->second;
  if (!active.lease.has_value() || active.lease->lease_id != lease.lease_id ||
      active.lease->epoch != lease.epoch) {
    metrics_.fencing_refusals.Increment();
    return absl::FailedPreconditionError(absl::StrCat(
        "lease on run \"", lease.run_id, "\" is stale: epoch ", lease.epoch, " lease ",
        lease.lease_id, ", current epoch ", active.run.epoch(),
        active.lease.has_value() ? "" : " (not leased)"));
  }
  return &active;
}

std::vector<bool> Scheduler::CurrentLeases(const std::vector<LeaseRef>& leases) {
  std::vector<bool> out;
  out.reserve(leases.size());
  absl::MutexLock lock(&mu_);
  for (const LeaseRef& lease : leases) {
    auto it = active_.find(lease.run_id);
    out.push_back(it != active_.end() && it->second.lease.has_value() &&
                  it->second.lease->lease_id == lease.lease_id && it->second.lease->epoch == lease.epoch);
  }
  return out;
}

std::vector<LeaseStatus> Scheduler::Heartbeat(const std::string& worker_id,
                                              const std::vector<LeaseRef>& leases) {
  std::vector<LeaseStatus> out;
  absl::MutexLock lock(&mu_);
  for (const LeaseRef& ref : leases) {
    LeaseStatus status{ref.run_id, false, false};
    absl::StatusOr<ActiveRun*> active = CheckLeaseLocked(ref);
    if (active.ok()) {
      ExtendLeaseLocked(**active);
      status.valid = true;
      status.cancel_requested = (*active)->run.cancel_requested();
    }
    out.push_back(status);
  }
  return out;
}

void Scheduler::CountJournaled(const v1::JournalEntry& entry, v1::Run& run) {
  run.set_last_journal_seq(entry.seq());
  switch (entry.entry_case()) {
    case v1::JournalEntry::kModelTurn:
      AddUsage(entry.model_turn().usage(), run.mutable_usage());
      AddUsage(entry.model_turn().usage(), run.mutable_tree_usage());
      run.set_steps(std::max(run.steps(), entry.step() + 1));
      break;
    case v1::JournalEntry::kToolResult:
      run.mutable_usage()->set_tool_calls(run.usage().tool_calls() + 1);
      run.mutable_tree_usage()->set_tool_calls(run.tree_usage().tool_calls() + 1);
      break;
    case v1::JournalEntry::kSummary:
      AddUsage(entry.summary().usage(), run.mutable_usage());
      AddUsage(entry.summary().usage(), run.mutable_tree_usage());
      break;
    default:
      break;
  }
}

absl::StatusOr<size_t> Scheduler::CatchUpRecordLocked(v1::Run& run) {
  ASSIGN_OR_RETURN(std::vector<v1::JournalEntry> entries, store_.ReadJournal(run.run_id(), run.last_journal_seq()));
  size_t counted = 0;
  for (const v1::JournalEntry& entry : entries) {
    if (entry.seq() != run.last_journal_seq() + 1) {
      // A damaged journal: the run goes on from what is whole, and its worker's next
      // append is refused as out of sync. The other runs recover as usual.
      BATON_LOG(ERROR) << "run " << run.run_id() << ": its journal skips from seq " << run.last_journal_seq()
                       << " to " << entry.seq() << "; counted up to the gap";
      break;
    }
    CountJournaled(entry, run);
    ++counted;
  }
  // The events those appends made: their seqs follow the record's without a gap.
  ASSIGN_OR_RETURN(std::vector<v1::RunEvent> events, store_.ReadEvents(run.run_id(), run.last_event_seq(), 0));
  if (!events.empty()) run.set_last_event_seq(std::max(run.last_event_seq(), events.back().seq()));
  return counted;
}

void Scheduler::JournalLocked(v1::Run& run, v1::JournalEntry entry, StoreBatch& batch, const std::string* event_text) {
  std::string parsed_text;
  if (event_text == nullptr && (entry.has_model_turn() || entry.has_tool_result())) {
    parsed_text = EventTextOf(entry);
    event_text = &parsed_text;
  }
  entry.set_seq(run.last_journal_seq() + 1);
  CountJournaled(entry, run);
  entry.set_epoch(run.epoch());
  if (entry.time_ms() == 0) entry.set_time_ms(clock_.NowMillis());
  switch (entry.entry_case()) {
    case v1::JournalEntry::kModelTurn: {
      const v1::ModelTurn& turn = entry.model_turn();
      v1::RunEvent& started = NewEventLocked(run, batch);
      started.set_time_ms(entry.time_ms());
      started.mutable_step_started()->set_step(entry.step());
      started.mutable_step_started()->set_model(turn.model());
      started.mutable_step_started()->set_model_rule(turn.model_rule());
      if (!event_text->empty()) {
        v1::RunEvent& text_event = NewEventLocked(run, batch);
        text_event.mutable_text()->set_step(entry.step());
        text_event.mutable_text()->set_text(*event_text);
      }
      v1::RunEvent& finished = NewEventLocked(run, batch);
      finished.mutable_step_finished()->set_step(entry.step());
      finished.mutable_step_finished()->set_stop_reason(turn.stop_reason());
      *finished.mutable_step_finished()->mutable_usage() = turn.usage();
      break;
    }
    case v1::JournalEntry::kToolCall: {
      v1::RunEvent& event = NewEventLocked(run, batch);
      auto* e = event.mutable_tool_call_started();
      e->set_step(entry.step());
      e->set_tool_use_id(entry.tool_call().tool_use_id());
      e->set_name(entry.tool_call().name());
      e->set_input_json(entry.tool_call().edited_input_json().empty() ? entry.tool_call().input_json()
                                                                      : entry.tool_call().edited_input_json());
      break;
    }
    case v1::JournalEntry::kToolResult: {
      const v1::ToolResult& result = entry.tool_result();
      v1::RunEvent& event = NewEventLocked(run, batch);
      auto* e = event.mutable_tool_call_finished();
      e->set_step(entry.step());
      e->set_tool_use_id(result.tool_use_id());
      e->set_name(result.name());
      e->set_is_error(result.is_error());
      e->set_duration_ms(result.duration_ms());
      e->set_output_preview(*event_text);
      break;
    }
    case v1::JournalEntry::kSummary: {
      const v1::ContextSummary& summary = entry.summary();
      v1::RunEvent& event = NewEventLocked(run, batch);
      event.set_time_ms(entry.time_ms());
      auto* e = event.mutable_context_compacted();
      e->set_step(entry.step());
      e->set_through_step(summary.through_step());
      e->set_tokens_before(summary.tokens_before());
      e->set_tokens_after(summary.tokens_after());
      e->set_model(summary.model());
      e->set_reason(summary.reason());
      break;
    }
    case v1::JournalEntry::kApprovalRequest:
      // The ApprovalRequested event comes from CreateApprovalLocked (it has the approval).
      break;
    case v1::JournalEntry::kApprovalDecision:
      // The ApprovalDecided event went out when the decision was taken (DecideLocked).
      break;
    case v1::JournalEntry::kNodeStarted: {
      const v1::GraphNodeStarted& started = entry.node_started();
      auto* e = NewEventLocked(run, batch).mutable_node_started();
      e->set_node(started.node());
      e->set_visit(started.visit());
      e->set_item(started.item());
      e->set_items(started.items());
      e->set_child_run_id(started.child_run_id());
      e->set_approval_id(started.approval_id());
      break;
    }
    case v1::JournalEntry::kNodeFinished: {
      const v1::GraphNodeFinished& finished = entry.node_finished();
      auto* e = NewEventLocked(run, batch).mutable_node_finished();
      e->set_node(finished.node());
      e->set_visit(finished.visit());
      e->set_item(finished.item());
      e->set_child_run_id(finished.child_run_id());
      e->set_state(finished.state());
      e->set_output_preview(finished.output().size() > 200 ? finished.output().substr(0, 200) + "…"
                                                           : finished.output());
      e->set_error(finished.error());
      if (finished.item() > 0) {
        auto* progress = NewEventLocked(run, batch).mutable_map_progress();
        progress->set_node(finished.node());
        progress->set_visit(finished.visit());
        *progress->mutable_progress() = finished.progress();
      }
      for (const std::string& to : finished.next()) {
        auto* edge = NewEventLocked(run, batch).mutable_edge_taken();
        edge->set_from(finished.node());
        edge->set_to(to);
      }
      for (const std::string& to : finished.dropped()) {
        auto* edge = NewEventLocked(run, batch).mutable_edge_taken();
        edge->set_from(finished.node());
        edge->set_to(to);
        edge->set_dropped(true);
      }
      for (const std::string& to : finished.skipped()) {
        auto* edge = NewEventLocked(run, batch).mutable_edge_taken();
        edge->set_from(finished.node());
        edge->set_to(to);
        edge->set_skipped(true);
      }
      break;
    }
    case v1::JournalEntry::ENTRY_NOT_SET:
      break;
  }
  batch.journal.push_back({run.run_id(), std::move(entry)});
}

void Scheduler::AppendStep(const LeaseRef& lease, std::vector<v1::JournalEntry> entries,
                           std::function<void(absl::StatusOr<AppendResult>)> done, int64_t first_seq,
                           std::vector<v1::ChildRunSpec> children, std::vector<std::string> event_texts,
                           std::optional<RunCompletion> complete) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  if (absl::Status backlog = CheckCommitBacklog(); !backlog.ok()) return done(backlog);
  if (event_texts.size() != entries.size()) {
    event_texts.clear();
    for (const v1::JournalEntry& entry : entries) event_texts.push_back(EventTextOf(entry));
  }
  Deferred deferred;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveRun*> checked = CheckLeaseLocked(lease);
    if (checked.ok()) {
      // The worker is alive and holds the lease: as good as a heartbeat (and the
      // take-up of a new lease, when its first append comes before its heartbeat).
      ExtendLeaseLocked(**checked);
    }
    if (!checked.ok()) {
      error = checked.status();
    } else if (const int64_t last = (*checked)->run.last_journal_seq();
               first_seq > 0 && last != first_seq - 1) {
      const int64_t end = first_seq + static_cast<int64_t>(entries.size()) - 1;
      if (last >= end) {
        // A retry of an append already applied (its answer was lost). Answer once
        // the batch holding it is durable: an empty batch commits after it.
        AppendResult result{last, (*checked)->run.cancel_requested()};
        CommitLocked(StoreBatch{}, [result, done]() { done(result); }, deferred);
      } else {
        error = absl::FailedPreconditionError(
            absl::StrCat("journal of run \"", lease.run_id, "\" is out of sync: append starts at seq ",
                         first_seq, " but the journal ends at seq ", last));
      }
    } else {
      ActiveRun& active = **checked;
      v1::Run& run = active.run;
      StoreBatch batch;
      std::vector<v1::Usage> turn_usage;
      // A plain append (turns, tool calls and results, summaries) changes only what
      // its entries and events show of the run: the record is not rewritten, and a
      // restart counts them back in (CatchUpRecordLocked). Anything else rewrites it,
      // and so does every kMaxPlainAppends-th plain one, so a restart reads at most
      // that many appends' entries and events per run.
      bool plain = children.empty();
      for (size_t i = 0; i < entries.size(); ++i) {
        v1::JournalEntry& entry = entries[i];
        switch (entry.entry_case()) {
          case v1::JournalEntry::kModelTurn:
            turn_usage.push_back(entry.model_turn().usage());
            break;
          case v1::JournalEntry::kSummary:
            turn_usage.push_back(entry.summary().usage());
            break;
          case v1::JournalEntry::kToolCall:
          case v1::JournalEntry::kToolResult:
            break;
          case v1::JournalEntry::kApprovalRequest:
            CreateApprovalLocked(active, entry, batch);
            plain = false;
            break;
          default:
            plain = false;
            break;
        }
        if (entry.has_tool_call()) {
          for (const v1::ChildRunSpec& child : children) {
            if (child.tool_use_id() == entry.tool_call().tool_use_id()) {
              CreateChildLocked(active, entry, child, batch);
              break;
            }
          }
        }
        JournalLocked(run, std::move(entry), batch, &event_texts[i]);
      }
      if (!plain || ++active.plain_appends >= kMaxPlainAppends) {
        PutRunRecord(run, batch);
        active.plain_appends = 0;
      }
      const std::string run_id = run.run_id();
      for (const v1::Usage& usage : turn_usage) AddTreeUsageLocked(run, usage, batch, deferred);
      // An ancestor that passed its budget ended the tree, this run included.
      bool cancel = true;
      int64_t last_seq = 0;
      if (auto it = active_.find(run_id); it != active_.end()) {
        cancel = it->second.run.cancel_requested();
        last_seq = it->second.run.last_journal_seq();
      }
      AppendResult result{last_seq, cancel};
      if (auto it = active_.find(run_id); complete.has_value() && it != active_.end()) {
        SucceedLocked(it->second, *complete, batch, deferred);
        result.completed = true;
      }
      CommitAndMatchLocked(std::move(batch), [result, done]() { done(result); }, deferred);
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunAll(deferred);
}

void Scheduler::SucceedLocked(ActiveRun& active, const RunCompletion& completion, StoreBatch& batch,
                              Deferred& deferred) {
  v1::Run& run = active.run;
  run.set_output(completion.output);
  // The journal's totals are authoritative; the worker's figures fill gaps.
  if (run.usage().model_calls() == 0) *run.mutable_usage() = completion.usage;
  run.set_steps(std::max(run.steps(), completion.steps));
  const std::string run_id = run.run_id();
  FinishLocked(run_id, v1::SUCCEEDED, "completed", v1::FAILURE_KIND_UNSPECIFIED, batch, deferred);
}

void Scheduler::CompleteRun(const LeaseRef& lease, const RunCompletion& completion,
                            std::function<void(absl::Status)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveRun*> checked = CheckLeaseLocked(lease);
    if (!checked.ok()) {
      error = checked.status();
    } else {
      StoreBatch batch;
      SucceedLocked(**checked, completion, batch, deferred);
      CommitAndMatchLocked(std::move(batch), [done]() { done(absl::OkStatus()); }, deferred);
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunAll(deferred);
}

void Scheduler::RetryOrFailLocked(ActiveRun& active, const std::string& error,
                                  v1::FailureKind kind, StoreBatch& batch, Deferred& deferred) {
  v1::Run& run = active.run;
  ReleaseLeaseLocked(active, batch);
  const int max_attempts =
      run.agent().max_attempts() > 0 ? run.agent().max_attempts() : options_.default_max_attempts;
  if (run.attempt() >= max_attempts) {
    FinishLocked(run.run_id(), v1::FAILED,
                 absl::StrCat(error, " (attempt ", run.attempt(), " of ", max_attempts, ")"), kind,
                 batch, deferred);
    return;
  }
  absl::Duration backoff = options_.retry_backoff_base * (1 << std::min(run.attempt() - 1, 20));
  backoff = std::min(backoff, options_.retry_backoff_max);
  run.set_attempt(run.attempt() + 1);
  run.set_error(error);
  run.set_not_before_ms(clock_.NowMillis() + absl::ToInt64Milliseconds(backoff));
  EnqueueLocked(active, batch);
  AddStateEventLocked(run, absl::StrCat("retrying after: ", error), batch);
  PutRunRecord(run, batch);
}

void Scheduler::LoseLeaseLocked(ActiveRun& active, const std::string& why, StoreBatch& batch,
                                Deferred& deferred) {
  v1::Run& run = active.run;
  ReleaseLeaseLocked(active, batch);
  run.set_lease_losses(run.lease_losses() + 1);
  const std::string count = absl::StrCat("lease ", run.lease_losses(), " of ", options_.max_lease_losses, " lost");
  if (run.lease_losses() >= options_.max_lease_losses) {
    FinishLocked(run.run_id(), v1::FAILED, absl::StrCat(why, " (", count, ": max_lease_losses)"), v1::LEASE_EXPIRED,
                 batch, deferred);
    return;
  }
  // No backoff: the TTL (or the take-up window) already was the wait, and nothing says
  // the run itself is at fault. The attempt stays: it is the run's own errors' budget.
  run.set_error(why);
  run.set_not_before_ms(0);
  EnqueueLocked(active, batch);
  AddStateEventLocked(run, absl::StrCat("queued again: ", why, " (", count, ")"), batch);
  PutRunRecord(run, batch);
}

void Scheduler::FailRun(const FailRunParams& params,
                        std::function<void(absl::StatusOr<v1::RunState>)> done) {
  if (absl::Status writable = store_.CheckWritable(); !writable.ok()) return done(writable);
  Deferred deferred;
  absl::Status error;
  {
    absl::MutexLock lock(&mu_);
    absl::StatusOr<ActiveRun*> checked = CheckLeaseLocked(params.lease);
    if (!checked.ok()) {
      error = checked.status();
    } else {
      ActiveRun& active = **checked;
      v1::Run& run = active.run;
      if (params.usage.model_calls() > run.usage().model_calls()) *run.mutable_usage() = params.usage;
      run.set_steps(std::max(run.steps(), params.steps));
      StoreBatch batch;
      const std::string run_id = run.run_id();
      if (params.cancelled || run.cancel_requested()) {
        // A child whose parent ended was cancelled by that, not by a user.
        const bool orphan = !run.parent_run_id().empty() && !active_.contains(run.parent_run_id());
        FinishLocked(run_id, v1::CANCELLED,
                     orphan                          ? "cancelled: the parent run ended"
                     : !run.cancel_reason().empty() ? run.cancel_reason()
                     : params.error.empty()          ? "cancelled"
                                                     : params.error,
                     orphan ? v1::PARENT_ENDED : v1::CANCELLED_BY_USER, batch, deferred);
      } else if (params.released) {
        ReleaseLeaseLocked(active, batch);
        const std::string worker = run.worker_id();
        run.set_not_before_ms(0);
        EnqueueLocked(active, batch);
        AddStateEventLocked(run, absl::StrCat("released by ", worker, ": ", params.error), batch);
        PutRunRecord(run, batch);
      } else if (params.retryable) {
        RetryOrFailLocked(active, params.error, params.failure_kind, batch, deferred);
      } else {
        FinishLocked(run_id, v1::FAILED, params.error, params.failure_kind, batch, deferred);
      }
      const v1::RunState state = StateIn(batch, run_id);
      CommitAndMatchLocked(std::move(batch), [state, done]() { done(state); }, deferred);
    }
  }
  if (!error.ok()) {
    done(error);
    return;
  }
  RunAll(deferred);
}

void Scheduler::Tick() {
  Deferred deferred;
  std::vector<PollBatchCallback> expired_polls;
  {
    absl::MutexLock lock(&mu_);
    const int64_t now_ms = clock_.NowMillis();
    // Leases past their deadline: the worker is gone, or never took the lease up
    // (frozen, cut off, dead before it read the grant).
    std::set<std::string> not_taking_up;  // workers whose grants were withdrawn
    while (!lease_deadlines_.empty() && lease_deadlines_.begin()->first <= now_ms) {
      std::string run_id = lease_deadlines_.begin()->second;
      ActiveRun& active = active_.at(run_id);
      StoreBatch batch;
      const std::string worker = active.run.worker_id();
      // Without a window an unconfirmed lease simply lasted its TTL.
      const bool taken_up = active.lease_taken_up || TakeUpWindow(options_) == absl::ZeroDuration();
      metrics_.leases_expired.Increment();
      if (active.run.cancel_requested()) {
        FinishLocked(run_id, v1::CANCELLED,
                     absl::StrCat(active.run.cancel_reason().empty() ? "cancelled" : active.run.cancel_reason(),
                                  " (the worker holding it is gone)"),
                     v1::CANCELLED_BY_USER, batch, deferred);
      } else if (taken_up) {
        LoseLeaseLocked(active, absl::StrCat("lease expired: worker ", worker, " stopped heartbeating"), batch,
                        deferred);
      } else {
        not_taking_up.insert(worker);
        LoseLeaseLocked(active,
                        absl::StrCat("lease withdrawn: worker ", worker, " did not take it up within ",
                                     absl::ToInt64Milliseconds(TakeUpWindow(options_)), " ms"),
                        batch, deferred);
      }
      {
        ScopedLogContext about(RunLogContext(active.run));
        BATON_LOG(INFO) << "lease on " << run_id << " held by " << worker << (taken_up ? " expired" : " withdrawn");
      }
      CommitLocked(std::move(batch), nullptr, deferred);
    }
    // A worker that did not take up a grant is frozen or unreachable: its other
    // parked polls would hand it more runs to withdraw later. They answer empty (a
    // worker that is alive after all polls again).
    if (!not_taking_up.empty()) {
      for (auto it = polls_.begin(); it != polls_.end();) {
        if (not_taking_up.count(it->second.worker_id) > 0) {
          expired_polls.push_back(std::move(it->second.done));
          it = polls_.erase(it);
        } else {
          ++it;
        }
      }
    }
    // Retries whose backoff is over.
    while (!delayed_.empty() && delayed_.begin()->first <= now_ms) {
      auto [not_before, run_id] = *delayed_.begin();
      delayed_.erase(delayed_.begin());
      const ActiveRun& active = active_.at(run_id);
      NamespaceOfLocked(active.run).queue.insert(QueueKey{active.run.priority(), active.enqueue_time_ms, run_id});
    }
    // Approvals past their deadline: the rule's on_timeout decides.
    while (!approval_deadlines_.empty() && approval_deadlines_.begin()->first <= now_ms) {
      const std::string approval_id = approval_deadlines_.begin()->second;
      approval_deadlines_.erase(approval_deadlines_.begin());
      auto it = approvals_.find(approval_id);
      if (it == approvals_.end() || it->second.state() != v1::Approval::PENDING) continue;
      StoreBatch batch;
      ExpireApprovalLocked(it->second, batch, deferred);
      CommitLocked(std::move(batch), nullptr, deferred);
    }
    ExpireGraphsLocked(now_ms, deferred);
    // Polls past their deadline answer empty.
    const absl::Time now = clock_.Now();
    for (auto it = input_waiters_.begin(); it != input_waiters_.end();) {
      if (it->second.deadline <= now) {
        InputCallback waiter_done = std::move(it->second.done);
        deferred.push_back([waiter_done = std::move(waiter_done)] {
          waiter_done(std::optional<v1::ApprovalDecision>());
        });
        it = input_waiters_.erase(it);
      } else {
        ++it;
      }
    }
    for (auto it = polls_.begin(); it != polls_.end();) {
      if (it->second.deadline <= now) {
        expired_polls.push_back(std::move(it->second.done));
        it = polls_.erase(it);
      } else {
        ++it;
      }
    }
    MatchLocked(deferred);
  }
  for (auto& done : expired_polls) done(std::vector<TaskGrant>());
  RunAll(deferred);
}

size_t Scheduler::QueuedCount() {
  absl::MutexLock lock(&mu_);
  size_t queued = 0;
  for (const auto& [name, ns] : namespaces_) queued += ns.queued;
  return queued;
}

size_t Scheduler::RunningCount() {
  absl::MutexLock lock(&mu_);
  return lease_deadlines_.size();
}

size_t Scheduler::WaitingCount() {
  absl::MutexLock lock(&mu_);
  size_t n = 0;
  for (const auto& [id, active] : active_) n += active.run.state() == v1::WAITING;
  return n;
}

}  // namespace baton::orchestrator
