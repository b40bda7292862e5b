// One execution of one run on a worker: the body of AgentLoop::Execute.
#ifndef BATON_WORKERS_RUN_EXECUTION_H_
#define BATON_WORKERS_RUN_EXECUTION_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/statusor.h"
#include "baton/v1/run.pb.h"
#include "common/clock.h"
#include "common/transcript.h"
#include "workers/agent_loop.h"
#include "workers/model/model_client.h"
#include "workers/model/serialized_request.h"
#include "workers/model_policy.h"
#include "workers/request_builder.h"
#include "workers/structured_output.h"
#include "workers/tool_executor.h"

namespace baton::worker {

// Takes one run from where its journal stops to its end, a limit, an error, an
// interruption in `signals`, or a wait: rebuilds the conversation, then steps (choose
// the model, compact if needed, call the model, journal the turn, run its tool calls)
// until the run ends or waits.
//
// Runs that wait (docs/design.md): a call to one of the agent's subagents is handed to
// a child run, a call an approvals rule gates is put to a person; both are journaled
// with the turn, the plain calls run, and then the run suspends (kSuspended). When
// what it waits for is over the orchestrator journals the results and queues the run
// again, and a RunExecution resumes it from its journal like after a crash.
//
// Structured output (AgentSpec.output_schema): the agent is also offered `respond`,
// offered last. A turn calling it is an answer, checked before anything else of the
// turn (and before the limits a finished turn is checked against, as an end_turn is):
//   - a valid input ends the run SUCCEEDED with that input as compact JSON. The turn,
//     the respond call and its result, and an is_error "not run" result for every
//     other call of the turn go in ONE write: the answer wins and the turn's other
//     calls never run. Running them first could hand them off (children, approvals)
//     and leave a decided answer waiting on side effects nobody reads; with one
//     write, a crash either loses the whole turn (the model is asked again, nothing
//     ran) or leaves the answer in the journal, which a resumed run completes with
//     without calling the model.
//   - an invalid input gets an is_error result naming what is wrong (written with the
//     turn); the turn's other calls then run as usual and the model gets another step.
//     Each invalid respond call counts, the count coming from the journal, so it
//     survives a crash; the second fails the run (OUTPUT_INVALID, not retryable).
//   - several respond calls in one turn are checked in order; the first valid one
//     wins.
// A final answer without respond (end_turn) must be JSON matching the schema, else the
// run fails (OUTPUT_INVALID). `respond` is never gated by approvals nor refused by
// max_tool_calls (it is the answer, not an action), though its results count in
// Usage.tool_calls like every journaled result.
//
// AgentLoop::Execute makes one for each call and drops it after. Not thread-safe: it
// runs on the run's thread; other threads only flip `signals`. It borrows everything
// it is given, which must outlive Run(). Non-copyable (the model call's cancellation
// check points at it).
//
// Methods returning std::optional<RunOutcome> return the outcome when the run ends
// there, and nullopt when it goes on.
class RunExecution {
 public:
  RunExecution(ModelClient& model, ToolExecutor& tools, const Clock& clock, const AgentLoopOptions& options,
               const v1::Run& run, RunJournal& out, RunSignals& signals);
  RunExecution(const RunExecution&) = delete;
  RunExecution& operator=(const RunExecution&) = delete;

  // `history`: the runs whose conversation this one continues, oldest first.
  // REQUIRES: called once.
  RunOutcome Run(const std::vector<v1::JournalEntry>& journal,
                 const google::protobuf::RepeatedPtrField<v1::PriorRun>& history);

 private:
  // What the worker does with a call of the current step that has no result yet.
  enum class CallAction {
    kRun,              // a plain call, or a gated one approved (APPROVE, EDIT, timeout-approve)
    kStartChild,       // a subagent call not handed to a child run yet
    kRequestApproval,  // a gated call not put to a person yet
    kWait,             // handed off: its child runs, or its decision is pending
    kNoResult,         // decided against, yet without the result journaled with the decision
  };

  // --- Start and resume ---
  // Rebuilds the conversation from the history and the journal, and settles the tools
  // the model is offered (the allowed ones, and the subagents).
  std::optional<RunOutcome> Start(const std::vector<v1::JournalEntry>& journal,
                                  const google::protobuf::RepeatedPtrField<v1::PriorRun>& history);
  // Finishes the step the journal stops in: its calls without a result, or the
  // journaled answer that ends the run.
  std::optional<RunOutcome> Resume();
  // Compiles the output schema, and reads from the journal what was answered to
  // respond so far.
  std::optional<RunOutcome> StartStructuredOutput(const std::vector<v1::JournalEntry>& journal);

  // --- Outcomes ---
  // `o` with the run's usage and steps so far.
  RunOutcome Finish(RunOutcome o) const;
  // The outcome for what `signals_` says (lease lost, cancelled, released), if any.
  std::optional<RunOutcome> Interrupted() const;
  // Appends `entries` (with the child runs of `children`); maps a lost lease, a
  // cancel or a journal that cannot be reached to the outcome that ends the run.
  std::optional<RunOutcome> Append(std::vector<v1::JournalEntry> entries,
                                   std::vector<v1::ChildRunSpec> children = {});
  // Appends the run's last `entries` and reports `outcome` (a success) with them
  // (RunJournal::AppendFinal): `outcome`, marked reported when the orchestrator took
  // both, else what ends the run instead (as Append).
  RunOutcome AppendFinal(std::vector<v1::JournalEntry> entries, RunOutcome outcome);
  // Whether the result of `call` may wait for the run's next write
  // (AgentSpec.defer_safe_tool_results, and the tool is read-only or idempotent).
  bool DefersResultOf(const PendingToolCall& call) const;
  // Writes what waits for the run's next write before the run reports `o` (unless the
  // lease is gone or the outcome was reported with its last write): `o`, or a lost
  // lease when that write finds the lease gone.
  RunOutcome FlushDeferred(RunOutcome o);
  // The outcome of an append that failed: a lost lease, or a failure, retryable
  // unless the orchestrator refused what was sent.
  RunOutcome AppendFailed(const absl::Status& status);
  // Right before a tool call: the lease must still be this worker's (RunJournal::
  // ConfirmLease). An outcome when it is lost or cannot be confirmed.
  std::optional<RunOutcome> ConfirmLease();

  // --- Limits ---
  // Steps, tokens, cost and the deadline: checked before every model call and right
  // after a turn that wants more (its tool calls do not run then). Tokens and cost
  // count the subagents' too (the tree's usage when the run was leased).
  std::optional<RunOutcome> CheckLimits() const;
  // max_tool_calls, before `call` runs.
  std::optional<RunOutcome> CheckToolCallLimit(const PendingToolCall& call) const;
  // Whether max_tool_calls leaves room for `more` calls after those made.
  bool ToolCallsLeft(int more) const;
  bool PastDeadline() const;
  RunOutcome TimedOut() const;
  // Polled by model and tool calls in flight: true aborts them.
  bool CancelledOrTimedOut() const;

  // --- Tool calls ---
  const ToolDefinition* FindTool(const std::string& name) const;
  const v1::Subagent* FindSubagent(const std::string& name) const;
  // The first approvals rule that gates a call of `name` (one of the offered tools);
  // null when the call runs at once.
  const v1::ApprovalRule* GateFor(const std::string& name) const;
  CallAction ActionFor(const PendingToolCall& call) const;
  // The input `call` runs with: the reviewer's after an EDIT, else the model's.
  nlohmann::json RunInput(const PendingToolCall& call) const;
  // The start marker of `call` (with the reviewer's input after an EDIT).
  v1::JournalEntry Marker(int step, const PendingToolCall& call) const;
  // The child run's input for a call of `subagent`, or (kFailedPrecondition) why the
  // call gets no child: the depth or children limit, an input without its prompt.
  absl::StatusOr<std::string> ChildInput(const v1::Subagent& subagent, const nlohmann::json& input) const;
  // The pending calls of `step`: hands off those that wait (with `entries`, the turn
  // on a fresh step, in one write), runs the others, then suspends if any is handed off.
  std::optional<RunOutcome> HandOffAndRun(int step, std::vector<v1::JournalEntry> entries);
  // Runs the calls of `step` the worker runs, in order, appending each result as it
  // returns together with the start marker of the next call.
  std::optional<RunOutcome> RunPending(int step);
  // Runs one call (or answers it with an error the model reads) into `output`. An
  // outcome when the call could not be made at all.
  std::optional<RunOutcome> CallTool(int step, const PendingToolCall& call, ToolOutput* output);
  // A journaled result of a pending call, into the conversation.
  void AddResult(const std::string& tool_use_id, const ToolOutput& output);

  // --- Structured output ---
  // Whether a pending call is a call of `respond` (the agent has an output schema).
  bool CallsRespond() const;
  // Checks the pending respond calls of `step` (see the class comment), journaling
  // their calls and results with `entries` (the turn on a fresh step) in one write.
  // An outcome when the run ends there (an answer, or the second invalid one); else
  // the respond calls have their results and the turn's other calls are pending.
  // REQUIRES: CallsRespond().
  std::optional<RunOutcome> TakeAnswers(int step, std::vector<v1::JournalEntry> entries);
  RunOutcome Answered(const nlohmann::json& answer) const;
  // The second invalid answer given to respond; `why` says what is wrong with it.
  RunOutcome AnswerInvalid(const absl::Status& why) const;

  // --- The model call ---
  // The request of a step that uses `model`, from the conversation so far (it borrows
  // requests_' bytes: valid until the next request is built).
  SerializedRequest BuildRequest(const std::string& model);
  // Input tokens of `request`: count_tokens when the client can, else an estimate.
  int64_t ContextTokens(const SerializedRequest& request) const;
  // Chooses the model of `step` (the agent's policy) and builds its request,
  // compacting the conversation first when it would not fit.
  std::optional<RunOutcome> PrepareStep(int step, ModelChoice* choice, SerializedRequest* request);
  // Calls the model, falling back when the chosen one stays overloaded; `choice` ends
  // up naming the model that answered.
  std::optional<RunOutcome> CallModel(int step, SerializedRequest& request, ModelChoice* choice,
                                      ModelResponse* response);
  // What a failed model call (or summarizer call) ends the run with.
  RunOutcome ModelCallFailed(const absl::Status& status, const std::string& what) const;
  // The usage of a model call (`model`: the one asked for) with its cost at the
  // worker's prices, counted in the worker's metrics.
  v1::Usage PricedUsage(const std::string& model, const ModelResponse& response) const;

  // --- Journal a turn ---
  // One step: limits, the model call, the turn and its tool calls.
  std::optional<RunOutcome> Step();
  // Journals the turn the model answered for `step` and acts on it: runs its tool
  // calls, ends the run, or goes on. Takes the content out of `response`.
  std::optional<RunOutcome> TakeTurn(int step, int64_t started_ms, const ModelChoice& choice,
                                     ModelResponse& response);

  // --- Compaction ---
  // Summarises the turns before the last `keep` ones, journals the summary and goes on
  // from it. kFailedPrecondition: nothing to compact. An outcome ends the run.
  absl::StatusOr<std::optional<RunOutcome>> Compact(int step, const std::string& model, const std::string& reason,
                                                    int64_t tokens_before, int keep);

  // --- Ending ---
  // How a turn that stopped for `stop_reason` ends the run (nullopt: another step).
  std::optional<RunOutcome> Ending(int step, const std::string& stop_reason, const nlohmann::json& content) const;

  ModelClient& model_;
  ToolExecutor& tools_;
  const Clock& clock_;
  const AgentLoopOptions& options_;
  const v1::Run& run_;
  const v1::AgentSpec& agent_;
  RunJournal& out_;
  RunSignals& signals_;
  // Entries that ride on the run's next write, in journal order: results of calls
  // DefersResultOf allows (and the markers of the safe calls after them).
  std::vector<v1::JournalEntry> deferred_;

  // From the agent and the options.
  const int max_steps_;
  const int max_tokens_;
  const int64_t deadline_ms_;  // 0: no run_timeout_seconds
  const int max_depth_;        // of the subagent tree (Run.max_depth)
  const int max_children_;     // children this run may create over its life
  // What the run's subagents had used when it was leased (tree_usage - usage).
  const int64_t descendant_tokens_;
  const double descendant_cost_;
  ModelCallOptions call_;  // the model calls' options, without on_text

  RebuiltConversation conv_;
  // The tools the agent may use, as listed; the requests carry them and the subagents.
  std::vector<ToolDefinition> offered_;
  nlohmann::json tools_json_ = nlohmann::json::array();
  // What every model request of the run carries, and the builder that keeps the
  // conversation serialized between steps (set by Start). conv_.messages is only
  // appended to, and its last message changed, between two requests; a compaction
  // replaces it and resets the builder.
  RequestParts request_parts_;
  std::unique_ptr<RequestBuilder> requests_;
  // Messages in the previous step's request: its last block holds the breakpoint this
  // step reads from.
  size_t previous_request_messages_ = 0;
  // Set after compacting for model_context_window_exceeded: a second one fails the run.
  bool retried_after_overflow_ = false;
  // The output schema and the `respond` tool; null when the agent has none.
  std::unique_ptr<StructuredOutput> structured_;
  // From the journal (and then this execution): the answer given to respond, once
  // valid; the invalid answers so far, and the last of them.
  std::optional<nlohmann::json> answer_;
  int invalid_answers_ = 0;
  nlohmann::json last_invalid_answer_;
  // Child runs this execution asked for (on top of Run.children).
  int children_started_ = 0;
};

}  // namespace baton::worker

#endif  // BATON_WORKERS_RUN_EXECUTION_H_
