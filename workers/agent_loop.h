// The agent loop of one run: choose the model, call the Messages API, run the tool
// calls, journal every step as it happens; resume from the journal without running
// recorded tool calls again. Pure logic: the model, the tools and the journal are
// interfaces, so it is tested with fakes in microseconds.
#ifndef BATON_WORKERS_AGENT_LOOP_H_
#define BATON_WORKERS_AGENT_LOOP_H_

#include <atomic>
#include <string>
#include <vector>

#include "absl/status/statusor.h"
#include "baton/v1/run.pb.h"
#include "baton/v1/worker_service.pb.h"
#include "common/clock.h"
#include "workers/model/model_client.h"
#include "workers/model/prices.h"
#include "workers/worker_metrics.h"
#include "workers/tool_executor.h"

namespace baton::worker {

struct RunOutcome;

// Where the loop makes its progress durable (the orchestrator's AppendStep).
class RunJournal {
 public:
  virtual ~RunJournal() = default;
  // Appends `entries` durably, in one write with the child runs of the subagent calls
  // among them (`children`, each with its ToolCall entry in `entries`). Returns whether
  // the run was cancelled meanwhile. kFailedPrecondition / kAborted: the lease is
  // gone, stop at once.
  virtual absl::StatusOr<bool> Append(std::vector<v1::JournalEntry> entries,
                                      std::vector<v1::ChildRunSpec> children) = 0;
  // Appends the run's last entries and reports its success (output, usage, steps of
  // `outcome`) in the same write. True when the orchestrator did both; false when it
  // only appended, and the outcome is still to be reported. Errors as Append.
  // Default: Append, then false.
  virtual absl::StatusOr<bool> AppendFinal(std::vector<v1::JournalEntry> entries, const RunOutcome& outcome) {
    absl::StatusOr<bool> appended = Append(std::move(entries), {});
    if (!appended.ok()) return appended.status();
    return false;
  }
  // Called right before each tool call starts: OK when the lease is certainly still
  // this worker's. A worker that may have been frozen or cut off past its lease's TTL
  // (by its own clock) asks the orchestrator first, so it starts no call another
  // worker may be running. kFailedPrecondition / kAborted: the lease is gone, run
  // nothing. Default: OK.
  virtual absl::Status ConfirmLease() { return absl::OkStatus(); }
  // Live text of the step in flight, as the model streams it: best effort, never
  // durable, must not block. Default: dropped.
  virtual void PublishText(int step, int block_index, const std::string& text) {}
  // The step's model call is starting (live, as PublishText), so a watcher can show
  // "step 3: waiting for claude-sonnet-4-5" before the durable StepStarted, which
  // comes with the journaled turn. Default: dropped.
  virtual void PublishStepStarted(int step, const std::string& model, const std::string& model_rule) {}
};

// Flags the worker flips while a run is in flight. Thread-safe.
struct RunSignals {
  std::atomic<bool> cancelled{false};   // the user cancelled the run
  std::atomic<bool> lease_lost{false};  // another worker owns the run now
  std::atomic<bool> draining{false};    // give the run back at the next step boundary
  std::atomic<bool> abort{false};       // give it back now, abandoning the call in flight
  bool Interrupted() const { return cancelled || lease_lost || abort; }
};

struct RunOutcome {
  enum class Kind {
    kSucceeded,  // output holds the answer
    kFailed,     // error, failure_kind, retryable
    kCancelled,
    kLeaseLost,  // say nothing: the run is someone else's now
    kReleased,   // drained: give the lease back
    kSuspended,  // waits for what it handed off (children, approvals): give the slot back
  };
  Kind kind = Kind::kFailed;
  std::string output;
  std::string error;
  v1::FailureKind failure_kind = v1::FAILURE_KIND_UNSPECIFIED;
  bool retryable = false;
  v1::Usage usage;
  int32_t steps = 0;
  // The orchestrator already has this outcome: it came with the last append
  // (RunJournal::AppendFinal), so there is nothing left to report.
  bool reported = false;
};

struct AgentLoopOptions {
  int default_max_steps = 32;         // when the agent sets none
  int default_max_tokens = 1024;      // per call, when the agent sets none
  absl::Duration tool_timeout = absl::Seconds(60);
  absl::Duration model_attempt_timeout = absl::Minutes(10);
  // A tool result larger than this (its content as journaled JSON, bytes) is not
  // journaled as is: the model gets an is_error result naming the size and the limit
  // instead, and the run goes on (--max-tool-result-bytes). Default: 1 MiB.
  int64_t max_tool_result_bytes = int64_t{1} << 20;
  // Prices of each step's usage (Usage.cost_usd, max_cost_usd). Default: the reference
  // prices (PriceTable::Default()).
  PriceTable prices = PriceTable::Default();
  // Tokens and cost of each model call, counted for Prometheus (worker_metrics.h).
  // Default: off.
  UsageMetrics metrics;
};

// Stateless between runs; thread-safe (one instance serves every run of a worker).
class AgentLoop {
 public:
  AgentLoop(ModelClient& model, ToolExecutor& tools, const Clock& clock, AgentLoopOptions options)
      : model_(model), tools_(tools), clock_(clock), options_(options) {}

  // Runs `run` from where `journal` stops to its end, a limit, an error, an
  // interruption in `signals`, or a wait for calls it handed off (a RunExecution does
  // the work). `history`: the runs whose conversation this one continues, oldest first
  // (Task.history).
  RunOutcome Execute(const v1::Run& run, const std::vector<v1::JournalEntry>& journal,
                     RunJournal& out, RunSignals& signals,
                     const google::protobuf::RepeatedPtrField<v1::PriorRun>& history = {});

 private:
  ModelClient& model_;
  ToolExecutor& tools_;
  const Clock& clock_;
  const AgentLoopOptions options_;
};

// Whether `name` matches one of `patterns` (exact names; "prefix*" wildcards).
bool ToolAllowed(const std::string& name, const google::protobuf::RepeatedPtrField<std::string>& patterns);

}  // namespace baton::worker

#endif  // BATON_WORKERS_AGENT_LOOP_H_
