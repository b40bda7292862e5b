#include "workers/worker.h"

#include <algorithm>
#include <chrono>
#include <cstdlib>
#include <fstream>
#include <optional>
#include <string_view>

#include <grpcpp/grpcpp.h>
#include <nlohmann/json.hpp>

#include "absl/container/flat_hash_map.h"
#include "absl/strings/str_cat.h"
#include "baton/v1/worker_service.grpc.pb.h"
#include "common/grpc_channel.h"
#include "common/grpc_status.h"
#include "common/logging.h"
#include "common/tracing/span.h"
#include "workers/append_batcher.h"
#include "workers/run_spans.h"

namespace baton::worker {

// Round-trip times in microseconds, at most kMax of them (the first ones).
class Worker::LatencySamples {
 public:
  static constexpr size_t kMax = 4'000'000;
  void Add(absl::Duration d) {
    absl::MutexLock lock(&mu_);
    if (samples_.size() < kMax) samples_.push_back(static_cast<uint32_t>(absl::ToInt64Microseconds(d)));
  }
  std::vector<uint32_t> Take() {
    absl::MutexLock lock(&mu_);
    return std::move(samples_);
  }

 private:
  absl::Mutex mu_;
  std::vector<uint32_t> samples_ ABSL_GUARDED_BY(mu_);
};

std::string WorkerOptions::StatsFileFromEnvironment() {
  const char* path = std::getenv("BATON_WORKER_STATS_FILE");
  return path == nullptr ? "" : path;
}

namespace {

// How long the heartbeat thread gathers new leases before confirming them: far below
// the orchestrator's take-up window (--lease-take-up-ms, 2 s by default).
constexpr absl::Duration kTakeUpDelay = absl::Milliseconds(50);

int64_t SteadyNowNanos() {
  return std::chrono::duration_cast<std::chrono::nanoseconds>(std::chrono::steady_clock::now().time_since_epoch())
      .count();
}

// What the worker knows of one lease by its own (monotonic) clock. The orchestrator
// extends a lease to (arrival + TTL) on every Heartbeat and AppendStep it answers
// as valid, so the lease cannot expire before (send time of that call + TTL).
// Thread-safe.
class LeaseClock {
 public:
  explicit LeaseClock(int64_t ttl_ms) : ttl_ns_(ttl_ms * 1'000'000) {}
  // A call carrying the lease, sent at `sent_ns` (SteadyNowNanos), was answered
  // "valid".
  void Confirmed(int64_t sent_ns) {
    const int64_t until = sent_ns + ttl_ns_.load();
    int64_t seen = valid_until_ns_.load();
    while (seen < until && !valid_until_ns_.compare_exchange_weak(seen, until)) {
    }
  }
  // The orchestrator announced its TTL (heartbeat answers; it may have restarted
  // with another).
  void SetTtl(int64_t ttl_ms) { ttl_ns_ = ttl_ms * 1'000'000; }
  // Whether the orchestrator ever confirmed the lease (took it up).
  bool TakenUp() const { return valid_until_ns_.load() > 0; }
  // Past the bound (or never confirmed): another worker may hold the run now.
  bool MayHaveExpired() const { return SteadyNowNanos() >= valid_until_ns_.load(); }

 private:
  std::atomic<int64_t> ttl_ns_;
  std::atomic<int64_t> valid_until_ns_{0};
};

}  // namespace

struct Worker::ActiveTask {
  explicit ActiveTask(v1::Task t)
      : task(std::move(t)), lease_clock(task.lease_ttl_ms() > 0 ? task.lease_ttl_ms() : 10'000) {}
  v1::Task task;
  RunSignals signals;
  LeaseClock lease_clock;
  const v1::Lease& lease() const { return task.lease(); }
};

namespace {

bool Retryable(const grpc::Status& s) {
  return s.error_code() == grpc::StatusCode::UNAVAILABLE ||
         s.error_code() == grpc::StatusCode::DEADLINE_EXCEEDED ||
         s.error_code() == grpc::StatusCode::RESOURCE_EXHAUSTED;
}

// How long to wait before retrying after `s`: the delay the orchestrator asked for (a
// full disk, a quota: RESOURCE_EXHAUSTED with RetryInfo), else `backoff`. An
// orchestrator that names a delay is up and holding the lease (heartbeats need no
// disk): `give_up` moves past the wait, so a full disk outlasting journal_retry_for
// does not cost the run.
absl::Duration RetryWait(const grpc::Status& s, absl::Duration backoff, absl::Time& give_up) {
  std::optional<absl::Duration> asked = RetryDelay(s);
  if (!asked.has_value()) return backoff;
  give_up = std::max(give_up, absl::Now() + *asked + backoff);
  return std::max(*asked, backoff);
}

// AppendStep through the orchestrator, retried while it is unreachable (it may be
// restarting: recovered leases stay valid, so the run goes on where it was).
class GrpcRunJournal final : public RunJournal {
 public:
  // `on_ack` (may be empty) gets the round trip of every AppendStep that succeeded.
  // `deltas` (may be null) takes the live text of the step in flight.
  // `next_seq`: the seq the next appended entry gets (the journal's last seq + 1).
  // `lease_clock`: the lease's bound by this worker's clock, extended by every append
  // acknowledged.
  GrpcRunJournal(v1::WorkerService::Stub& stub, AppendBatcher& appends, const std::string& worker_id,
                 const v1::Lease& lease, int64_t next_seq, RunSignals& signals, LeaseClock& lease_clock,
                 absl::Duration retry_for, std::function<void(absl::Duration)> on_ack, DeltaBuffer* deltas = nullptr)
      : stub_(stub), appends_(appends), worker_id_(worker_id), lease_(lease), next_seq_(next_seq),
        signals_(signals), lease_clock_(lease_clock), retry_for_(retry_for), on_ack_(std::move(on_ack)),
        deltas_(deltas) {}

  void PublishText(int step, int block_index, const std::string& text) override {
    if (deltas_ != nullptr) deltas_->Add(lease_, step, block_index, text);
  }
  void PublishStepStarted(int step, const std::string& model, const std::string& model_rule) override {
    if (deltas_ == nullptr) return;
    v1::RunEvent::StepStarted started;
    started.set_step(step);
    started.set_model(model);
    started.set_model_rule(model_rule);
    deltas_->AddStepStarted(lease_, started);
  }

  absl::StatusOr<bool> Append(std::vector<v1::JournalEntry> entries,
                              std::vector<v1::ChildRunSpec> children) override {
    v1::AppendStepRequest request;
    for (v1::ChildRunSpec& c : children) *request.add_children() = std::move(c);
    absl::StatusOr<v1::AppendStepResponse> response = Send(std::move(entries), request);
    if (!response.ok()) return response.status();
    return response->cancel_requested();
  }

  absl::StatusOr<bool> AppendFinal(std::vector<v1::JournalEntry> entries, const RunOutcome& outcome) override {
    v1::AppendStepRequest request;
    v1::RunCompletion* complete = request.mutable_complete();
    complete->set_output(outcome.output);
    *complete->mutable_usage() = outcome.usage;
    complete->set_steps(outcome.steps);
    absl::StatusOr<v1::AppendStepResponse> response = Send(std::move(entries), request);
    if (!response.ok()) return response.status();
    return response->completed();
  }

  absl::Status ConfirmLease() override {
    if (!lease_clock_.MayHaveExpired()) return absl::OkStatus();
    // This worker may have been frozen or cut off past the TTL: ask.
    BATON_LOG(INFO) << "lease on " << lease_.run_id() << " unconfirmed for a TTL by this worker's clock; "
                    << "confirming it before the next tool call";
    v1::HeartbeatRequest request;
    request.set_worker_id(worker_id_);
    *request.add_leases() = lease_;
    v1::HeartbeatResponse response;
    grpc::Status status = CallRetrying("Heartbeat", absl::Seconds(5), [&](grpc::ClientContext& ctx) {
      const int64_t sent_ns = SteadyNowNanos();
      grpc::Status s = stub_.Heartbeat(&ctx, request, &response);
      if (s.ok() && response.lease_ttl_ms() > 0) lease_clock_.SetTtl(response.lease_ttl_ms());
      if (s.ok() && response.leases_size() == 1 && response.leases(0).valid()) lease_clock_.Confirmed(sent_ns);
      return s;
    });
    if (!status.ok()) return FromGrpcStatus(status);
    if (response.leases_size() != 1 || !response.leases(0).valid()) {
      return absl::FailedPreconditionError(absl::StrCat("lease on run \"", lease_.run_id(),
                                                        "\" was lost while this worker could not renew it"));
    }
    return absl::OkStatus();
  }

 private:
  // AppendStep with `entries` added to `request`.
  absl::StatusOr<v1::AppendStepResponse> Send(std::vector<v1::JournalEntry> entries, v1::AppendStepRequest& request) {
    *request.mutable_lease() = lease_;
    // A retry after a lost answer (a timeout, an orchestrator crash after the commit)
    // is then acknowledged without writing the entries twice (nor creating the
    // children twice: they come with the same entries).
    request.set_first_seq(next_seq_);
    for (v1::JournalEntry& e : entries) *request.add_entries() = std::move(e);
    v1::AppendStepResponse response;
    grpc::Status status = CallRetrying("AppendStep", absl::Seconds(10), [&](grpc::ClientContext& ctx) {
      const absl::Time sent = absl::Now();
      const int64_t sent_ns = SteadyNowNanos();
      grpc::Status s = appends_.Append(&request, absl::FromChrono(ctx.deadline()), &response);
      if (s.ok()) {
        lease_clock_.Confirmed(sent_ns);
        if (on_ack_) on_ack_(absl::Now() - sent);
      }
      return s;
    });
    if (!status.ok()) return FromGrpcStatus(status);
    next_seq_ += request.entries_size();
    return response;
  }

  // `call` with a fresh context (deadline `timeout`), retried with backoff while the
  // orchestrator is unreachable, for up to retry_for_ (it may be restarting:
  // recovered leases stay valid), unless the run is interrupted meanwhile.
  grpc::Status CallRetrying(const char* what, absl::Duration timeout,
                            const std::function<grpc::Status(grpc::ClientContext&)>& call) {
    absl::Time give_up = absl::Now() + retry_for_;
    absl::Duration backoff = absl::Milliseconds(50);
    while (true) {
      grpc::ClientContext ctx;
      ctx.set_deadline(
          absl::ToChronoTime(std::min(absl::Now() + timeout, std::max(give_up, absl::Now() + absl::Seconds(1)))));
      // While the orchestrator restarts, the call waits for the channel to reconnect,
      // and this thread drives the reconnection. Failing fast instead left no thread
      // of a worker whose slots were all busy polling the channel: its reconnect
      // timers and connects then advanced only at gRPC's backup poll (every 5 s), and
      // whole workers' runs stood still for 10-30 s after a restart (W4).
      ctx.set_wait_for_ready(true);
      grpc::Status status = call(ctx);
      if (status.ok()) return status;
      const absl::Duration wait = RetryWait(status, backoff, give_up);
      if (!Retryable(status) || absl::Now() + wait > give_up || signals_.lease_lost || signals_.abort) {
        return status;
      }
      BATON_LOG(WARNING) << what << " for " << lease_.run_id() << " failed (" << status.error_message()
                         << "), retrying in " << wait;
      absl::SleepFor(wait);
      backoff = std::min(backoff * 2, absl::Seconds(1));
    }
  }

  v1::WorkerService::Stub& stub_;
  AppendBatcher& appends_;
  const std::string worker_id_;
  const v1::Lease lease_;
  int64_t next_seq_;
  RunSignals& signals_;
  LeaseClock& lease_clock_;
  const absl::Duration retry_for_;
  const std::function<void(absl::Duration)> on_ack_;
  DeltaBuffer* const deltas_;
};

}  // namespace

struct Worker::Stubs {
  std::unique_ptr<v1::WorkerService::Stub> orchestrator;
};

Worker::Worker(WorkerOptions options, AgentLoop& loop)
    : options_(std::move(options)), loop_(loop), append_latencies_(std::make_unique<LatencySamples>()) {
  // Reconnect quickly after an orchestrator restart.
  ChannelOptions channel;
  channel.max_reconnect_backoff_ms = 1000;
  channel.tls = options_.tls;
  // The worker's API key (orchestrator --auth) comes from the environment only:
  // command lines are visible in ps.
  channel.bearer_token = BearerTokenFromEnvironment();
  channel_ = NewChannel(options_.orchestrator_address, channel);
  stubs_ = std::make_unique<Stubs>(Stubs{v1::WorkerService::NewStub(channel_)});
  appends_ = std::make_unique<AppendBatcher>(channel_);
}

Worker::~Worker() { Drain(); }

void Worker::Start() {
  for (int i = 0; i < options_.concurrency; ++i) slots_.emplace_back([this, i] { SlotLoop(i); });
  heartbeat_ = std::thread([this] { HeartbeatLoop(); });
  delta_sender_ = std::thread([this] { DeltaSenderLoop(); });
  BATON_LOG(INFO) << "worker " << options_.worker_id << " polling " << options_.orchestrator_address
                  << " with " << options_.concurrency << " slots";
}

int Worker::ActiveRuns() {
  absl::MutexLock lock(&mu_);
  return static_cast<int>(active_.size());
}

absl::Duration Worker::HeartbeatInterval() {
  if (options_.heartbeat_interval > absl::ZeroDuration()) return options_.heartbeat_interval;
  return absl::Milliseconds(std::max<int64_t>(lease_ttl_ms_.load() / 3, 50));
}

bool Worker::SlotMayGo() const { return !ready_.empty() || !polling_ || stopping_; }

void Worker::SlotLoop(int slot) {
  while (true) {
    std::shared_ptr<ActiveTask> task;
    {
      absl::MutexLock lock(&mu_);
      ++idle_slots_;
      mu_.Await(absl::Condition(this, &Worker::SlotMayGo));
      if (!ready_.empty()) {
        // Runs leased with another slot's poll are handed back on drain by RunTask.
        task = std::move(ready_.front());
        ready_.pop_front();
        --idle_slots_;
      } else if (stopping_) {
        --idle_slots_;
        break;
      } else {
        polling_ = true;
      }
    }
    if (task == nullptr) {
      std::vector<std::shared_ptr<ActiveTask>> tasks = PollForSlots();
      absl::MutexLock lock(&mu_);
      polling_ = false;
      if (tasks.empty()) {
        --idle_slots_;
        continue;
      }
      task = std::move(tasks.front());
      for (size_t i = 1; i < tasks.size(); ++i) ready_.push_back(std::move(tasks[i]));
      --idle_slots_;
    }
    RunTask(task);
    {
      absl::MutexLock lock(&mu_);
      active_.erase(task->task.lease().run_id());
    }
  }
}

std::vector<std::shared_ptr<Worker::ActiveTask>> Worker::PollForSlots() {
  v1::WorkerService::Stub* const stub = stubs_->orchestrator.get();
  grpc::ClientContext ctx;
  ctx.set_deadline(absl::ToChronoTime(absl::Now() + options_.poll_wait + absl::Seconds(5)));
  v1::PollTaskRequest request;
  {
    absl::MutexLock lock(&mu_);
    if (stopping_) return {};
    poll_ = &ctx;
    // This slot and every other one waiting; ready_ is empty (waiting slots take
    // from it before one of them polls).
    request.set_max_tasks(std::max(idle_slots_, 1));
  }
  request.set_worker_id(options_.worker_id);
  request.set_wait_ms(absl::ToInt64Milliseconds(options_.poll_wait));
  for (const std::string& ns : options_.namespaces) request.add_namespaces(ns);
  v1::PollTaskResponse response;
  // While the orchestrator restarts, the poll waits for the channel to reconnect
  // instead of failing at once and backing off past the moment it is back.
  ctx.set_wait_for_ready(true);
  grpc::Status status = stub->PollTask(&ctx, request, &response);
  {
    absl::MutexLock lock(&mu_);
    poll_ = nullptr;
  }
  if (!status.ok()) {
    if (stopping_) return {};
    if (response.has_task()) {
      BATON_LOG(WARNING) << "poll failed after a task was sent: " << status.error_message();
    }
    absl::SleepFor(poll_backoff_);
    poll_backoff_ = std::min(poll_backoff_ * 2, absl::Seconds(2));
    return {};
  }
  poll_backoff_ = absl::Milliseconds(100);
  if (!response.has_task()) return {};
  std::vector<std::shared_ptr<ActiveTask>> tasks;
  tasks.push_back(std::make_shared<ActiveTask>(std::move(*response.mutable_task())));
  for (v1::Task& more : *response.mutable_more_tasks()) tasks.push_back(std::make_shared<ActiveTask>(std::move(more)));
  // The heartbeat period follows the TTL the orchestrator announces; a shorter
  // TTL than assumed must not wait out a period computed from the old one.
  const int64_t ttl_ms = tasks.front()->task.lease_ttl_ms();
  const bool ttl_shrank = ttl_ms > 0 && ttl_ms < lease_ttl_ms_.load();
  if (ttl_ms > 0) lease_ttl_ms_ = ttl_ms;
  absl::MutexLock lock(&mu_);
  for (const std::shared_ptr<ActiveTask>& task : tasks) {
    // Drain began while the tasks were on their way: hand them straight back.
    if (stopping_) task->signals.draining = true;
    active_[task->task.lease().run_id()] = task;
  }
  // Take the leases up at once: the orchestrator withdraws one not confirmed within
  // its take-up window.
  heartbeat_wake_ = true;
  if (ttl_shrank) next_heartbeat_ = absl::InfinitePast();
  return tasks;
}

void Worker::RunTask(const std::shared_ptr<ActiveTask>& task) {
  v1::WorkerService::Stub* const stub = stubs_->orchestrator.get();
  const v1::Run& run = task->task.run();
  const v1::Lease lease = task->lease();
  // This attempt's span, under the run's trace; the slot's log lines name both.
  ScopedLogContext log_context(LogContext{run.run_id(), "", ""});
  tracing::Span span = StartInvokeAgentSpan(run, lease.epoch(), options_.worker_id);
  tracing::ScopedSpan scope(span);
  BATON_LOG(INFO) << "running " << run.run_id() << " (attempt " << run.attempt() << ", epoch "
                  << lease.epoch() << ", " << task->task.journal_size() << " journal entries)";
  std::vector<v1::JournalEntry> journal(task->task.journal().begin(), task->task.journal().end());
  std::function<void(absl::Duration)> on_ack;
  if (!options_.stats_file.empty()) on_ack = [this](absl::Duration d) { append_latencies_->Add(d); };
  GrpcRunJournal out(*stub, *appends_, options_.worker_id, lease, run.last_journal_seq() + 1, task->signals,
                     task->lease_clock, options_.journal_retry_for, std::move(on_ack), &deltas_);
  RunOutcome outcome = loop_.Execute(run, journal, out, task->signals, task->task.history());
  EndInvokeAgentSpan(span, outcome);
  if (outcome.reported) {
    BATON_LOG(INFO) << run.run_id() << " succeeded after " << outcome.steps << " steps";
    return;
  }

  // Report the outcome; retried while the orchestrator is unreachable.
  absl::Time give_up = absl::Now() + options_.journal_retry_for;
  while (true) {
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(10)));
    grpc::Status status;
    std::string what;
    switch (outcome.kind) {
      case RunOutcome::Kind::kLeaseLost:
        BATON_LOG(WARNING) << "lease on " << run.run_id() << " lost; dropping the run";
        return;
      case RunOutcome::Kind::kSuspended: {
        // The run waits for what it handed off (children, approvals), holding no slot.
        v1::SuspendRunRequest request;
        *request.mutable_lease() = lease;
        *request.mutable_usage() = outcome.usage;
        request.set_steps(outcome.steps);
        v1::SuspendRunResponse response;
        status = stub->SuspendRun(&ctx, request, &response);
        what = "suspended";
        break;
      }
      case RunOutcome::Kind::kSucceeded: {
        v1::CompleteRunRequest request;
        *request.mutable_lease() = lease;
        request.set_output(outcome.output);
        *request.mutable_usage() = outcome.usage;
        request.set_steps(outcome.steps);
        v1::CompleteRunResponse response;
        status = stub->CompleteRun(&ctx, request, &response);
        what = "succeeded";
        break;
      }
      default: {
        v1::FailRunRequest request;
        *request.mutable_lease() = lease;
        request.set_error(outcome.error);
        request.set_failure_kind(outcome.failure_kind);
        request.set_retryable(outcome.retryable);
        request.set_cancelled(outcome.kind == RunOutcome::Kind::kCancelled);
        request.set_released(outcome.kind == RunOutcome::Kind::kReleased);
        if (outcome.kind == RunOutcome::Kind::kReleased) request.set_error("worker draining");
        *request.mutable_usage() = outcome.usage;
        request.set_steps(outcome.steps);
        v1::FailRunResponse response;
        status = stub->FailRun(&ctx, request, &response);
        what = outcome.kind == RunOutcome::Kind::kCancelled  ? "cancelled"
               : outcome.kind == RunOutcome::Kind::kReleased ? "released"
                                                             : absl::StrCat("failed: ", outcome.error);
        break;
      }
    }
    if (status.ok()) {
      BATON_LOG(INFO) << run.run_id() << " " << what << " after " << outcome.steps << " steps";
      return;
    }
    const absl::Duration wait = RetryWait(status, absl::Milliseconds(200), give_up);
    if (!Retryable(status) || absl::Now() > give_up) {
      BATON_LOG(WARNING) << "cannot report " << run.run_id() << " " << what << ": " << status.error_message();
      return;
    }
    absl::SleepFor(wait);
  }
}

void Worker::HeartbeatLoop() {
  v1::WorkerService::Stub* const stub = stubs_->orchestrator.get();
  bool retry_take_up = false;  // the last take-up heartbeat failed: try again soon
  while (true) {
    bool every_lease;
    std::vector<std::shared_ptr<ActiveTask>> tasks;
    {
      absl::MutexLock lock(&mu_);
      auto wake = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return heartbeat_stop_ || heartbeat_wake_; };
      absl::Time until = next_heartbeat_;
      if (retry_take_up) until = std::min(until, absl::Now() + absl::Milliseconds(100));
      mu_.AwaitWithDeadline(absl::Condition(&wake), until);
      if (heartbeat_stop_) return;
      if (heartbeat_wake_ && absl::Now() < next_heartbeat_) {
        // New leases: let a burst of them gather into one call, and let short runs
        // take theirs up with their first AppendStep instead (one call fewer each).
        auto stop = [this]() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_) { return heartbeat_stop_; };
        mu_.AwaitWithDeadline(absl::Condition(&stop), std::min(next_heartbeat_, absl::Now() + kTakeUpDelay));
        if (heartbeat_stop_) return;
      }
      heartbeat_wake_ = false;
      every_lease = absl::Now() >= next_heartbeat_;
      if (every_lease) next_heartbeat_ = absl::Now() + HeartbeatInterval();
      // Between periodic heartbeats, only the leases not taken up yet.
      for (auto& [id, task] : active_) {
        if (every_lease || !task->lease_clock.TakenUp()) tasks.push_back(task);
      }
    }
    if (tasks.empty()) {
      retry_take_up = false;
      continue;
    }
    v1::HeartbeatRequest request;
    request.set_worker_id(options_.worker_id);
    for (auto& task : tasks) *request.add_leases() = task->lease();
    grpc::ClientContext ctx;
    ctx.set_deadline(absl::ToChronoTime(absl::Now() + std::min(absl::Seconds(5), HeartbeatInterval())));
    // Waits for a reconnecting channel (and drives it), as AppendStep does.
    ctx.set_wait_for_ready(true);
    v1::HeartbeatResponse response;
    const int64_t sent_ns = SteadyNowNanos();
    grpc::Status status = stub->Heartbeat(&ctx, request, &response);
    retry_take_up = !status.ok();
    if (!status.ok()) {
      BATON_LOG(WARNING) << "heartbeat failed: " << status.error_message();
      continue;
    }
    if (response.lease_ttl_ms() > 0) lease_ttl_ms_ = response.lease_ttl_ms();
    // Matched by run id in one pass: a periodic heartbeat carries every slot's lease.
    absl::flat_hash_map<std::string_view, ActiveTask*> by_run;
    by_run.reserve(tasks.size());
    for (const std::shared_ptr<ActiveTask>& task : tasks) by_run.emplace(task->lease().run_id(), task.get());
    for (const auto& lease_status : response.leases()) {
      auto it = by_run.find(lease_status.run_id());
      if (it == by_run.end()) continue;
      ActiveTask* task = it->second;
      if (response.lease_ttl_ms() > 0) task->lease_clock.SetTtl(response.lease_ttl_ms());
      if (lease_status.valid()) {
        task->lease_clock.Confirmed(sent_ns);
      } else {
        task->signals.lease_lost = true;
      }
      if (lease_status.cancel_requested() && !task->signals.cancelled.exchange(true)) {
        BATON_LOG(INFO) << "run " << lease_status.run_id() << " cancelled; stopping it";
      }
    }
  }
}

void Worker::Drain() {
  if (stopping_.exchange(true)) {
    // Second call (the destructor after an explicit Drain): just make sure of joins.
  } else {
    BATON_LOG(INFO) << "draining: no new runs; " << ActiveRuns() << " in flight";
  }
  {
    absl::MutexLock lock(&mu_);
    if (poll_ != nullptr) static_cast<grpc::ClientContext*>(poll_)->TryCancel();
    for (auto& [id, task] : active_) task->signals.draining = true;
  }
  const absl::Time deadline = absl::Now() + options_.drain_timeout;
  while (ActiveRuns() > 0 && absl::Now() < deadline) absl::SleepFor(absl::Milliseconds(20));
  {
    absl::MutexLock lock(&mu_);
    for (auto& [id, task] : active_) task->signals.abort = true;
  }
  for (std::thread& t : slots_) {
    if (t.joinable()) t.join();
  }
  {
    absl::MutexLock lock(&mu_);
    heartbeat_stop_ = true;
  }
  if (heartbeat_.joinable()) heartbeat_.join();
  deltas_.Close();
  if (delta_sender_.joinable()) delta_sender_.join();
  WriteStats();
}

namespace {

// How long the live-event sender waits, once something is buffered, for more: a
// watcher sees text and step starts at most this much later; one call carries
// what all the runs made in that time.
constexpr absl::Duration kDeltaLinger = absl::Milliseconds(10);

}  // namespace

void Worker::DeltaSenderLoop() {
  // One thread sends every run's live text, batched: a slow orchestrator costs dropped
  // deltas (DeltaBuffer), never a blocked agent loop.
  v1::WorkerService::Stub* const stub = stubs_->orchestrator.get();
  // An orchestrator from before PublishDeltasBatch gets one call per run.
  bool batches = true;
  while (true) {
    // The linger gathers the step starts and text of many runs into one call: without
    // it, a call went out as soon as one step had started.
    std::vector<v1::PublishDeltasRequest> batch = deltas_.Take(absl::Milliseconds(200), kDeltaLinger);
    if (batch.empty()) {
      if (stopping_ && ActiveRuns() == 0) return;
      continue;
    }
    if (batches) {
      v1::PublishDeltasBatchRequest request;
      for (v1::PublishDeltasRequest& run : batch) *request.add_runs() = std::move(run);
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
      v1::PublishDeltasResponse response;
      grpc::Status status = stub->PublishDeltasBatch(&ctx, request, &response);
      if (status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
        if (!status.ok()) {
          BATON_LOG(WARNING) << "PublishDeltasBatch for " << request.runs_size()
                             << " runs failed: " << status.error_message();
        }
        continue;
      }
      batches = false;
      batch.assign(std::make_move_iterator(request.mutable_runs()->begin()),
                   std::make_move_iterator(request.mutable_runs()->end()));
    }
    for (const v1::PublishDeltasRequest& request : batch) {
      grpc::ClientContext ctx;
      ctx.set_deadline(absl::ToChronoTime(absl::Now() + absl::Seconds(1)));
      v1::PublishDeltasResponse response;
      grpc::Status status = stub->PublishDeltas(&ctx, request, &response);
      if (!status.ok() && status.error_code() != grpc::StatusCode::UNIMPLEMENTED) {
        BATON_LOG(WARNING) << "PublishDeltas for " << request.lease().run_id() << " failed: "
                           << status.error_message();
      }
    }
  }
}

void Worker::WriteStats() {
  if (options_.stats_file.empty()) return;
  std::vector<uint32_t> samples = append_latencies_->Take();
  if (samples.empty()) return;  // a second Drain (the destructor) has nothing new
  std::string text =
      absl::StrCat("{\"worker_id\":", nlohmann::json(options_.worker_id).dump(), ",\"append_step_us\":[");
  for (size_t i = 0; i < samples.size(); ++i) absl::StrAppend(&text, i ? "," : "", samples[i]);
  absl::StrAppend(&text, "],\"append_calls\":", appends_->calls(), ",\"append_steps\":", appends_->batched_steps(),
                  "}\n");
  std::ofstream out(options_.stats_file, std::ios::trunc);
  out << text;
  if (!out.good()) {
    BATON_LOG(WARNING) << "cannot write the stats file " << options_.stats_file;
  }
}

void Worker::RegisterMetrics(metrics::Registry& registry) {
  registry.AddScrapeCollector([this](metrics::ScrapeWriter& out) {
    out.Gauge("baton_worker_slots", "Runs this worker can run at once (--concurrency).");
    out.Add({}, options_.concurrency);
    out.Gauge("baton_worker_slots_busy", "Runs this worker is running now.");
    out.Add({}, ActiveRuns());
  });
}

}  // namespace baton::worker
