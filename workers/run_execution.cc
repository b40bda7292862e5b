#include "workers/run_execution.h"

#include <algorithm>
#include <map>
#include <optional>
#include <utility>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/json_codec.h"
#include "common/logging.h"
#include "workers/journal_entries.h"
#include "workers/model/api_error.h"
#include "workers/request_builder.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

// The member `key` of `object`, or null when `object` is not an object or lacks it.
const json* Member(const json& object, const char* key) {
  if (!object.is_object()) return nullptr;
  const auto it = object.find(key);
  return it != object.end() ? &*it : nullptr;
}

v1::Usage UsageFromApi(const json* usage) {
  v1::Usage u;
  auto get = [](const json* object, const char* key) -> int64_t {
    const json* value = object != nullptr ? Member(*object, key) : nullptr;
    return value != nullptr && value->is_number_integer() ? value->get<int64_t>() : 0;
  };
  u.set_input_tokens(get(usage, "input_tokens"));
  u.set_output_tokens(get(usage, "output_tokens"));
  u.set_cache_creation_input_tokens(get(usage, "cache_creation_input_tokens"));
  u.set_cache_read_input_tokens(get(usage, "cache_read_input_tokens"));
  if (const json* by_ttl = usage != nullptr ? Member(*usage, "cache_creation") : nullptr) {
    if (const json* one_hour = Member(*by_ttl, "ephemeral_1h_input_tokens");
        one_hour != nullptr && one_hour->is_number_integer()) {
      u.set_cache_creation_1h_input_tokens(std::min(one_hour->get<int64_t>(), u.cache_creation_input_tokens()));
    }
  }
  u.set_model_calls(1);
  return u;
}

TokenCounts CountsOf(const v1::Usage& u) {
  TokenCounts t;
  t.input = u.input_tokens();
  t.output = u.output_tokens();
  t.cache_write_1h = u.cache_creation_1h_input_tokens();
  t.cache_write_5m = u.cache_creation_input_tokens() - t.cache_write_1h;
  t.cache_read = u.cache_read_input_tokens();
  return t;
}

// A run that hit one of its limits: typed, with the bound and the value reached.
RunOutcome LimitReached(v1::FailureKind kind, const std::string& limit, const std::string& reached) {
  RunOutcome o;
  o.kind = RunOutcome::Kind::kFailed;
  o.failure_kind = kind;
  o.error = absl::StrCat("limit reached: ", limit, " (", reached, ")");
  return o;
}

std::string Usd(double usd) { return absl::StrFormat("%.6f", usd); }

int64_t TotalTokens(const v1::Usage& u) {
  return u.input_tokens() + u.output_tokens() + u.cache_creation_input_tokens() +
         u.cache_read_input_tokens();
}

// What happens to a run whose model call failed.
RunOutcome ModelFailure(const absl::Status& status) {
  RunOutcome out;
  out.kind = RunOutcome::Kind::kFailed;
  out.error = std::string(status.message());
  switch (status.code()) {
    case absl::StatusCode::kUnavailable:
    case absl::StatusCode::kResourceExhausted:
    case absl::StatusCode::kDeadlineExceeded:
      out.failure_kind = v1::MODEL_UNAVAILABLE;
      out.retryable = true;
      break;
    default:
      out.failure_kind = v1::MODEL_ERROR;
      out.retryable = false;
  }
  return out;
}

// Tokens and cost of the run's subagents: the tree's usage minus the run's own.
int64_t DescendantTokens(const v1::Run& run) {
  return std::max<int64_t>(0, TotalTokens(run.tree_usage()) - TotalTokens(run.usage()));
}
double DescendantCost(const v1::Run& run) { return std::max(0.0, run.tree_usage().cost_usd() - run.usage().cost_usd()); }

constexpr int kDefaultMaxDepth = 4;
constexpr int kDefaultMaxChildren = 100;
// Invalid answers given to respond that fail the run: the first goes back to the model.
constexpr int kMaxInvalidAnswers = 2;

// A subagent tool's input schema when the subagent sets none: the child's input is the prompt.
const char kDefaultSubagentSchema[] =
    R"({"type":"object","properties":{"prompt":{"type":"string"}},"required":["prompt"]})";

// A subagent as the model sees it: a tool.
absl::StatusOr<json> SubagentTool(const v1::Subagent& subagent) {
  json schema = json::parse(subagent.input_schema_json().empty() ? kDefaultSubagentSchema
                                                                  : subagent.input_schema_json(),
                            nullptr, false);
  if (schema.is_discarded() || !schema.is_object()) {
    return absl::InvalidArgumentError(
        absl::StrCat("subagent \"", subagent.name(), "\": input_schema_json is not a JSON object"));
  }
  std::string description = subagent.description();
  if (description.empty()) description = subagent.agent().description();
  if (description.empty()) {
    description = absl::StrCat("Runs the agent ",
                               !subagent.agent().name().empty() ? subagent.agent().name()
                               : !subagent.agent_name().empty() ? subagent.agent_name()
                                                                : subagent.name());
  }
  return json{{"name", subagent.name()}, {"description", description}, {"input_schema", std::move(schema)}};
}

constexpr char kSummarizerSystem[] =
    "You write the working memory of an agent whose conversation has grown too long. Summarize the "
    "conversation so that the agent can continue the task from the summary alone: the task and its "
    "constraints, what was done (tool calls and what they returned, with the exact names, identifiers, "
    "numbers and file paths that may matter later), decisions made and why, and what remains to do. Do not "
    "call tools.";
constexpr char kSummarizeInstruction[] =
    "Summarize the conversation above for your own later use, following the system prompt.";

// A result over --max-tool-result-bytes is not journaled: the journal, every resume and
// every later request would carry it. The model learns why and may ask for less.
std::optional<ToolOutput> OversizedToolResult(const std::string& tool, const ToolOutput& output,
                                              int64_t max_bytes) {
  const size_t bytes = output.content.dump().size();
  if (bytes <= static_cast<size_t>(std::max<int64_t>(max_bytes, 0))) return std::nullopt;
  return ToolOutput{json(absl::StrCat("Error: the result of \"", tool, "\" was ", bytes,
                                      " bytes, over the limit of ", max_bytes,
                                      " bytes (--max-tool-result-bytes), so it was dropped. Ask for less: a "
                                      "narrower query, a smaller range or fewer items.")),
                    true};
}

}  // namespace

RunExecution::RunExecution(ModelClient& model, ToolExecutor& tools, const Clock& clock,
                           const AgentLoopOptions& options, const v1::Run& run, RunJournal& out,
                           RunSignals& signals)
    : model_(model),
      tools_(tools),
      clock_(clock),
      options_(options),
      run_(run),
      agent_(run.agent()),
      out_(out),
      signals_(signals),
      max_steps_(agent_.max_steps() > 0 ? agent_.max_steps() : options.default_max_steps),
      max_tokens_(agent_.max_tokens() > 0 ? agent_.max_tokens() : options.default_max_tokens),
      deadline_ms_(agent_.run_timeout_seconds() > 0 && run.start_time_ms() > 0
                       ? run.start_time_ms() + agent_.run_timeout_seconds() * 1000
                       : 0),
      max_depth_(run.max_depth() > 0 ? run.max_depth() : kDefaultMaxDepth),
      max_children_(agent_.max_children() > 0 ? agent_.max_children() : kDefaultMaxChildren),
      descendant_tokens_(DescendantTokens(run)),
      descendant_cost_(DescendantCost(run)) {
  call_.stream = !agent_.disable_streaming();
  call_.attempt_timeout = options_.model_attempt_timeout;
  call_.is_cancelled = [this] { return CancelledOrTimedOut(); };
}

RunOutcome RunExecution::Run(const std::vector<v1::JournalEntry>& journal,
                             const google::protobuf::RepeatedPtrField<v1::PriorRun>& history) {
  if (auto o = Start(journal, history)) return *o;
  if (auto o = Resume()) return FlushDeferred(*std::move(o));
  // On resume the previous request is the one before the last assistant turn.
  for (size_t i = conv_.messages.size(); i-- > 1;) {
    if (conv_.messages[i].value("role", "") == "assistant") {
      previous_request_messages_ = i;
      break;
    }
  }
  while (true) {
    if (auto o = Step()) return FlushDeferred(*std::move(o));
  }
}

// --- Start and resume ---

std::optional<RunOutcome> RunExecution::Start(const std::vector<v1::JournalEntry>& journal,
                                              const google::protobuf::RepeatedPtrField<v1::PriorRun>& history) {
  absl::StatusOr<json> prior = HistoryMessages(history);
  if (!prior.ok()) {
    RunOutcome o;
    o.error = absl::StrCat("cannot rebuild the conversation this run continues: ", prior.status().message());
    o.failure_kind = v1::WORKER_ERROR;
    return o;
  }
  absl::StatusOr<RebuiltConversation> rebuilt = RebuildConversation(run_.input(), journal, *std::move(prior));
  if (!rebuilt.ok()) {
    RunOutcome o;
    o.error = absl::StrCat("cannot resume from the journal: ", rebuilt.status().message());
    o.failure_kind = v1::WORKER_ERROR;
    return o;
  }
  conv_ = std::move(*rebuilt);
  if (agent_.has_output_schema()) {
    if (auto o = StartStructuredOutput(journal)) return o;
  }
  if (agent_.allowed_tools_size() > 0) {
    absl::StatusOr<std::vector<ToolDefinition>> listed = tools_.ListTools();
    if (!listed.ok()) {
      RunOutcome o;
      o.error = absl::StrCat("cannot list tools: ", listed.status().message());
      o.failure_kind = v1::WORKER_ERROR;
      o.retryable = listed.status().code() == absl::StatusCode::kUnavailable;
      return Finish(o);
    }
    for (ToolDefinition& t : *listed) {
      if (!ToolAllowed(t.name, agent_.allowed_tools())) continue;
      if (FindSubagent(t.name) != nullptr) {
        BATON_LOG(WARNING) << run_.run_id() << ": the subagent \"" << t.name << "\" hides the tool of that name";
        continue;
      }
      if (structured_ != nullptr && t.name == kRespondTool) {
        BATON_LOG(WARNING) << run_.run_id() << ": the output schema's \"" << kRespondTool
                           << "\" hides the tool of that name";
        continue;
      }
      offered_.push_back(std::move(t));
    }
  }
  for (const ToolDefinition& t : offered_) {
    tools_json_.push_back({{"name", t.name}, {"description", t.description}, {"input_schema", t.input_schema}});
  }
  // Subagents are offered whatever allowed_tools says: the agent names them itself.
  for (const v1::Subagent& subagent : agent_.subagents()) {
    absl::StatusOr<json> tool = SubagentTool(subagent);
    if (!tool.ok()) {
      RunOutcome o;
      o.error = std::string(tool.status().message());
      o.failure_kind = v1::WORKER_ERROR;
      return Finish(o);
    }
    tools_json_.push_back(*std::move(tool));
  }
  // Last, so the tools before it keep their places (and their cache prefix).
  if (structured_ != nullptr) tools_json_.push_back(structured_->tool());
  request_parts_.max_tokens = max_tokens_;
  request_parts_.system = agent_.system();
  request_parts_.tools = tools_json_;
  if (agent_.has_temperature()) request_parts_.temperature = agent_.temperature();
  request_parts_.prompt_caching = !agent_.prompt_caching().disabled();
  request_parts_.cache_ttl = agent_.prompt_caching().ttl();
  request_parts_.stream = call_.stream;
  requests_ = std::make_unique<RequestBuilder>(request_parts_);
  return std::nullopt;
}

std::optional<RunOutcome> RunExecution::StartStructuredOutput(const std::vector<v1::JournalEntry>& journal) {
  // The orchestrator refuses both at CreateRun; an attempt would fail the same way.
  RunOutcome o;
  o.failure_kind = v1::WORKER_ERROR;
  absl::StatusOr<std::unique_ptr<StructuredOutput>> structured = StructuredOutput::Create(agent_.output_schema());
  if (!structured.ok()) {
    o.error = absl::StrCat("output_schema: ", structured.status().message());
    return Finish(o);
  }
  if (FindSubagent(kRespondTool) != nullptr) {
    o.error = absl::StrCat("the subagent \"", kRespondTool, "\" clashes with the tool of the output schema");
    return Finish(o);
  }
  structured_ = *std::move(structured);
  // The input of each respond call comes from its ToolCall entry, written with its result.
  std::map<std::string, json> inputs;
  for (const v1::JournalEntry& entry : journal) {
    if (entry.has_tool_call() && entry.tool_call().name() == kRespondTool) {
      inputs[entry.tool_call().tool_use_id()] = json::parse(entry.tool_call().input_json(), nullptr, false);
    } else if (entry.has_tool_result() && entry.tool_result().name() == kRespondTool) {
      auto input = inputs.find(entry.tool_result().tool_use_id());
      if (entry.tool_result().is_error()) {
        // An invalid answer, or a respond call left unrun by the answer that ended the run.
        ++invalid_answers_;
        last_invalid_answer_ = input != inputs.end() ? input->second : json();
      } else if (input == inputs.end() || input->second.is_discarded()) {
        o.error = absl::StrCat("cannot resume from the journal: the answer given to respond [",
                               entry.tool_result().tool_use_id(), "] has no journaled input");
        return Finish(o);
      } else if (!answer_.has_value()) {
        answer_ = input->second;
      }
    }
  }
  return std::nullopt;
}

std::optional<RunOutcome> RunExecution::Resume() {
  // The run ended with an answer given to respond, or a second invalid one, but was
  // not completed before a crash.
  if (answer_.has_value()) return Answered(*answer_);
  if (structured_ != nullptr && invalid_answers_ >= kMaxInvalidAnswers) {
    return AnswerInvalid(structured_->Check(last_invalid_answer_));
  }
  if (!conv_.pending.empty()) {
    // Not left by this worker (the answers are written with their turn), but an
    // answer comes before the limits wherever it is found.
    if (CallsRespond()) {
      if (auto o = TakeAnswers(conv_.steps - 1, {})) return o;
      if (conv_.pending.empty()) return std::nullopt;
    }
    if (auto o = CheckLimits()) return o;
    return HandOffAndRun(conv_.steps - 1, {});
  }
  if (conv_.steps > 0 && !conv_.needs_compaction) {
    // A journaled answer (the run was not completed before a crash), refusal or cut turn.
    json last_content = json::array();
    if (!conv_.turn_message_index.empty()) {
      last_content = conv_.messages[conv_.turn_message_index.rbegin()->second]["content"];
    }
    return Ending(conv_.steps - 1, conv_.last_stop_reason, last_content);
  }
  return std::nullopt;
}

// --- Outcomes ---

RunOutcome RunExecution::Finish(RunOutcome o) const {
  o.usage = conv_.usage;
  o.steps = conv_.steps;
  return o;
}

std::optional<RunOutcome> RunExecution::Interrupted() const {
  RunOutcome o;
  if (signals_.lease_lost) {
    o.kind = RunOutcome::Kind::kLeaseLost;
  } else if (signals_.cancelled) {
    o.kind = RunOutcome::Kind::kCancelled;
  } else if (signals_.abort || signals_.draining) {
    o.kind = RunOutcome::Kind::kReleased;
  } else {
    return std::nullopt;
  }
  return Finish(o);
}

namespace {

// `entries` after what `deferred` held (which is left empty).
std::vector<v1::JournalEntry> AfterDeferred(std::vector<v1::JournalEntry>& deferred,
                                            std::vector<v1::JournalEntry> entries) {
  if (deferred.empty()) return entries;
  std::vector<v1::JournalEntry> all = std::move(deferred);
  deferred.clear();
  all.reserve(all.size() + entries.size());
  for (v1::JournalEntry& e : entries) all.push_back(std::move(e));
  return all;
}

}  // namespace

std::optional<RunOutcome> RunExecution::Append(std::vector<v1::JournalEntry> entries,
                                               std::vector<v1::ChildRunSpec> children) {
  entries = AfterDeferred(deferred_, std::move(entries));
  absl::StatusOr<bool> cancelled = out_.Append(std::move(entries), std::move(children));
  if (!cancelled.ok()) return AppendFailed(cancelled.status());
  if (*cancelled) signals_.cancelled = true;
  if (signals_.lease_lost || signals_.cancelled) return Interrupted();
  return std::nullopt;
}

RunOutcome RunExecution::AppendFinal(std::vector<v1::JournalEntry> entries, RunOutcome outcome) {
  entries = AfterDeferred(deferred_, std::move(entries));
  absl::StatusOr<bool> reported = out_.AppendFinal(std::move(entries), outcome);
  if (!reported.ok()) return AppendFailed(reported.status());
  outcome.reported = *reported;
  return outcome;
}

bool RunExecution::DefersResultOf(const PendingToolCall& call) const {
  if (!agent_.defer_safe_tool_results()) return false;
  const ToolDefinition* tool = FindTool(call.name);
  return tool != nullptr && (tool->read_only || tool->idempotent);
}

RunOutcome RunExecution::FlushDeferred(RunOutcome o) {
  if (deferred_.empty() || o.reported || o.kind == RunOutcome::Kind::kLeaseLost) return o;
  std::vector<v1::JournalEntry> entries = std::move(deferred_);
  deferred_.clear();
  absl::StatusOr<bool> appended = out_.Append(std::move(entries), {});
  if (appended.ok()) return o;
  RunOutcome failed = AppendFailed(appended.status());
  if (failed.kind == RunOutcome::Kind::kLeaseLost) return failed;
  // The outcome stands: those calls are safe to run again if the run is resumed.
  BATON_LOG(WARNING) << "cannot journal the last tool results of " << run_.run_id() << ": "
                     << appended.status().message();
  return o;
}

RunOutcome RunExecution::AppendFailed(const absl::Status& status) {
  const absl::StatusCode code = status.code();
  if (code == absl::StatusCode::kFailedPrecondition || code == absl::StatusCode::kAborted) {
    signals_.lease_lost = true;
    return *Interrupted();
  }
  RunOutcome o;
  o.kind = RunOutcome::Kind::kFailed;
  o.error = absl::StrCat("cannot journal the step: ", status.message());
  o.failure_kind = v1::WORKER_ERROR;
  // The orchestrator refusing what was sent (a subagent that does not exist, say)
  // would refuse it again on every attempt.
  o.retryable = code != absl::StatusCode::kInvalidArgument && code != absl::StatusCode::kNotFound;
  return Finish(o);
}

std::optional<RunOutcome> RunExecution::ConfirmLease() {
  const absl::Status held = out_.ConfirmLease();
  if (held.ok()) return std::nullopt;
  if (held.code() == absl::StatusCode::kFailedPrecondition || held.code() == absl::StatusCode::kAborted) {
    // Another worker may own the run by now: a call started here could run twice.
    signals_.lease_lost = true;
    return Interrupted();
  }
  RunOutcome o;
  o.error = absl::StrCat("cannot confirm the lease before a tool call: ", held.message());
  o.failure_kind = v1::WORKER_ERROR;
  o.retryable = true;
  return Finish(o);
}

// --- Limits ---

std::optional<RunOutcome> RunExecution::CheckLimits() const {
  if (conv_.steps >= max_steps_) {
    return Finish(LimitReached(v1::LIMIT_MAX_STEPS, absl::StrCat("max_steps ", max_steps_),
                               absl::StrCat(conv_.steps, " steps taken")));
  }
  const int64_t tokens = TotalTokens(conv_.usage) + descendant_tokens_;
  if (agent_.max_tokens_total() > 0 && tokens >= agent_.max_tokens_total()) {
    return Finish(LimitReached(
        v1::LIMIT_MAX_TOKENS_TOTAL, absl::StrCat("max_tokens_total ", agent_.max_tokens_total()),
        absl::StrCat(tokens, " tokens used",
                     descendant_tokens_ > 0 ? absl::StrCat(", ", descendant_tokens_, " of them by subagents") : "")));
  }
  const double cost = conv_.usage.cost_usd() + descendant_cost_;
  if (agent_.max_cost_usd() > 0 && cost >= agent_.max_cost_usd()) {
    return Finish(LimitReached(
        v1::LIMIT_MAX_COST, absl::StrCat("max_cost_usd ", agent_.max_cost_usd()),
        absl::StrCat(Usd(cost), " USD spent",
                     descendant_cost_ > 0 ? absl::StrCat(", ", Usd(descendant_cost_), " of it by subagents") : "")));
  }
  if (PastDeadline()) return TimedOut();
  return std::nullopt;
}

std::optional<RunOutcome> RunExecution::CheckToolCallLimit(const PendingToolCall& call) const {
  if (ToolCallsLeft(1)) return std::nullopt;
  return Finish(LimitReached(v1::LIMIT_MAX_TOOL_CALLS, absl::StrCat("max_tool_calls ", agent_.max_tool_calls()),
                             absl::StrCat(conv_.usage.tool_calls(), " tool calls made; ", call.name, " [",
                                          call.tool_use_id, "] not run")));
}

bool RunExecution::ToolCallsLeft(int more) const {
  return agent_.max_tool_calls() <= 0 || conv_.usage.tool_calls() + more <= agent_.max_tool_calls();
}

bool RunExecution::PastDeadline() const { return deadline_ms_ > 0 && clock_.NowMillis() >= deadline_ms_; }

RunOutcome RunExecution::TimedOut() const {
  return Finish(LimitReached(
      v1::LIMIT_RUN_TIMEOUT, absl::StrCat("run_timeout_seconds ", agent_.run_timeout_seconds()),
      absl::StrFormat("%.3f s since the run started", (clock_.NowMillis() - run_.start_time_ms()) / 1000.0)));
}

bool RunExecution::CancelledOrTimedOut() const { return signals_.Interrupted() || PastDeadline(); }

// --- Tool calls ---

const ToolDefinition* RunExecution::FindTool(const std::string& name) const {
  for (const ToolDefinition& t : offered_) {
    if (t.name == name) return &t;
  }
  return nullptr;
}

const v1::Subagent* RunExecution::FindSubagent(const std::string& name) const {
  for (const v1::Subagent& subagent : agent_.subagents()) {
    if (subagent.name() == name) return &subagent;
  }
  return nullptr;
}

const v1::ApprovalRule* RunExecution::GateFor(const std::string& name) const {
  // A call the worker answers with "not available" asks nobody.
  if (FindTool(name) == nullptr) return nullptr;
  for (const v1::ApprovalRule& rule : agent_.approvals()) {
    if (ToolAllowed(name, rule.tools())) return &rule;
  }
  return nullptr;
}

RunExecution::CallAction RunExecution::ActionFor(const PendingToolCall& call) const {
  if (!call.child_run_id.empty()) return CallAction::kWait;
  if (FindSubagent(call.name) != nullptr) return call.started ? CallAction::kWait : CallAction::kStartChild;
  if (call.approval_decision.has_value()) {
    const v1::ApprovalDecision& decision = *call.approval_decision;
    const bool timeout_approves = decision.timed_out() && call.approval_request.has_value() &&
                                  call.approval_request->on_timeout() == v1::ApprovalRule::TIMEOUT_APPROVE;
    return decision.decision() == v1::APPROVE || decision.decision() == v1::EDIT || timeout_approves
               ? CallAction::kRun
               : CallAction::kNoResult;
  }
  if (call.approval_request.has_value()) return CallAction::kWait;
  if (GateFor(call.name) != nullptr) return CallAction::kRequestApproval;
  return CallAction::kRun;
}

json RunExecution::RunInput(const PendingToolCall& call) const {
  if (call.approval_decision.has_value() && call.approval_decision->decision() == v1::EDIT) {
    // RebuildConversation checked that it parses.
    return json::parse(call.approval_decision->input_json(), nullptr, false);
  }
  return call.input;
}

v1::JournalEntry RunExecution::Marker(int step, const PendingToolCall& call) const {
  const bool edited = call.approval_decision.has_value() && call.approval_decision->decision() == v1::EDIT;
  return ToolCallEntry(run_.run_id(), step, clock_.NowMillis(), call.tool_use_id, call.name, call.input,
                       edited ? call.approval_decision->input_json() : "");
}

absl::StatusOr<std::string> RunExecution::ChildInput(const v1::Subagent& subagent, const json& input) const {
  auto refused = [&](const std::string& why) {
    return absl::FailedPreconditionError(absl::StrCat("subagent \"", subagent.name(), "\" not started: ", why));
  };
  if (run_.depth() + 1 > max_depth_) {
    return refused(absl::StrCat("the subagent depth limit ", max_depth_, " is reached"));
  }
  if (run_.children() + children_started_ >= max_children_) {
    return refused(absl::StrCat("the max_children limit ", max_children_, " is reached"));
  }
  if (!subagent.has_agent()) return refused("it has no agent spec");
  if (!subagent.input_schema_json().empty()) return input.dump();
  // The default schema: the prompt is the child's input.
  if (!input.is_object() || !input.contains("prompt") || !input["prompt"].is_string() ||
      input["prompt"].get_ref<const std::string&>().empty()) {
    return refused("its input needs a non-empty \"prompt\" string");
  }
  return input["prompt"].get<std::string>();
}

std::optional<RunOutcome> RunExecution::HandOffAndRun(int step, std::vector<v1::JournalEntry> entries) {
  std::vector<v1::ChildRunSpec> children;
  // Subagent calls that get no child: answered in the same write.
  std::vector<std::pair<std::string, ToolOutput>> refused;
  const PendingToolCall* first_to_run = nullptr;
  for (const PendingToolCall& call : conv_.pending) {
    switch (ActionFor(call)) {
      case CallAction::kRun:
        if (first_to_run == nullptr) first_to_run = &call;
        break;
      case CallAction::kStartChild: {
        const v1::Subagent& subagent = *FindSubagent(call.name);
        absl::StatusOr<std::string> input = ChildInput(subagent, call.input);
        if (!input.ok()) {
          ToolOutput output{json(std::string(input.status().message())), true};
          entries.push_back(ToolResultEntry(step, clock_.NowMillis(), call.tool_use_id, call.name, output, 0));
          refused.emplace_back(call.tool_use_id, std::move(output));
          break;
        }
        entries.push_back(Marker(step, call));
        children.push_back(ChildRunSpecOf(call.tool_use_id, subagent, *std::move(input)));
        ++children_started_;
        break;
      }
      case CallAction::kRequestApproval:
        entries.push_back(ApprovalRequestEntry(run_.run_id(), step, clock_.NowMillis(), call.tool_use_id, call.name,
                                               call.input, FindTool(call.name)->input_schema, *GateFor(call.name)));
        break;
      case CallAction::kWait:
        break;
      case CallAction::kNoResult: {
        RunOutcome o;
        o.error = absl::StrCat("cannot resume from the journal: the call of \"", call.name, "\" [", call.tool_use_id,
                               "] was decided ", v1::Decision_Name(call.approval_decision->decision()),
                               " but no result was journaled with the decision");
        o.failure_kind = v1::WORKER_ERROR;
        return Finish(o);
      }
    }
  }
  // The first call the worker runs starts with this write (unless max_tool_calls stops it).
  if (first_to_run != nullptr && !first_to_run->started && ToolCallsLeft(static_cast<int>(refused.size()) + 1)) {
    entries.push_back(Marker(step, *first_to_run));
  }
  if (!entries.empty()) {
    if (auto o = Append(std::move(entries), std::move(children))) return o;
  }
  for (const auto& [tool_use_id, output] : refused) AddResult(tool_use_id, output);
  if (auto o = RunPending(step)) return o;
  // What is left was handed off: the run waits for it, holding no worker.
  if (!conv_.pending.empty()) {
    RunOutcome o;
    o.kind = RunOutcome::Kind::kSuspended;
    return Finish(o);
  }
  return std::nullopt;
}

std::optional<RunOutcome> RunExecution::RunPending(int step) {
  std::vector<PendingToolCall> to_run;
  for (const PendingToolCall& call : conv_.pending) {
    if (ActionFor(call) == CallAction::kRun) to_run.push_back(call);
  }
  for (size_t i = 0; i < to_run.size(); ++i) {
    if (auto o = Interrupted()) return o;
    const PendingToolCall& call = to_run[i];
    if (auto o = CheckToolCallLimit(call)) return o;
    if (PastDeadline()) return TimedOut();
    if (auto o = ConfirmLease()) return o;
    const int64_t started_ms = clock_.NowMillis();
    ToolOutput output;
    if (auto o = CallTool(step, call, &output)) return o;
    std::vector<v1::JournalEntry> entries{ToolResultEntry(step, clock_.NowMillis(), call.tool_use_id, call.name,
                                                          output, clock_.NowMillis() - started_ms)};
    const PendingToolCall* next = i + 1 < to_run.size() ? &to_run[i + 1] : nullptr;
    if (next != nullptr && !next->started && ToolCallsLeft(2)) {
      // The next call starts right after (unless max_tool_calls stops it): its marker
      // rides on this write.
      entries.push_back(Marker(step, *next));
    }
    if (DefersResultOf(call) && (next == nullptr || DefersResultOf(*next))) {
      // Safe to run again: the result waits for the run's next write. A call that is
      // not must have its marker written before it starts, so it is not deferred.
      for (v1::JournalEntry& e : entries) deferred_.push_back(std::move(e));
    } else if (auto o = Append(std::move(entries))) {
      return o;
    }
    AddResult(call.tool_use_id, output);
  }
  return std::nullopt;
}

void RunExecution::AddResult(const std::string& tool_use_id, const ToolOutput& output) {
  // Results go into the user turn after the assistant turn; a resumed step may
  // already have one holding the results recorded before.
  if (conv_.messages.back().value("role", "") != "user") {
    conv_.messages.push_back({{"role", "user"}, {"content", json::array()}});
  }
  json& results = conv_.messages.back()["content"];
  results.push_back(ToolResultBlock(tool_use_id, output.content, output.is_error));
  OrderToolResults(conv_.messages[conv_.messages.size() - 2]["content"], &results);
  conv_.usage.set_tool_calls(conv_.usage.tool_calls() + 1);
  conv_.pending.erase(std::find_if(conv_.pending.begin(), conv_.pending.end(),
                                   [&](const PendingToolCall& p) { return p.tool_use_id == tool_use_id; }));
}

// --- Structured output ---

bool RunExecution::CallsRespond() const {
  return structured_ != nullptr && std::any_of(conv_.pending.begin(), conv_.pending.end(),
                                               [](const PendingToolCall& call) { return call.name == kRespondTool; });
}

std::optional<RunOutcome> RunExecution::TakeAnswers(int step, std::vector<v1::JournalEntry> entries) {
  struct Result {
    std::string tool_use_id;
    std::string name;
    ToolOutput output;
  };
  std::vector<Result> results;
  std::optional<json> answer;
  absl::Status invalid;
  for (const PendingToolCall& call : conv_.pending) {
    if (call.name != kRespondTool) continue;
    if (!call.started) entries.push_back(Marker(step, call));
    absl::Status checked = structured_->Check(call.input);
    if (checked.ok()) {
      answer = call.input;
      results.push_back({call.tool_use_id, call.name, {json("Answer accepted."), false}});
      break;
    }
    ++invalid_answers_;
    last_invalid_answer_ = call.input;
    const absl::string_view why = checked.message();
    results.push_back({call.tool_use_id, call.name,
                       {json(absl::StrCat("Error: the answer does not match the output schema: ", why,
                                          absl::EndsWith(why, ".") ? "" : ".",
                                          " Call respond again with the complete, corrected answer.")),
                        true}});
    invalid = std::move(checked);
    if (invalid_answers_ >= kMaxInvalidAnswers) break;
  }
  if (answer.has_value()) {
    // The answer wins: the turn's other calls never run, yet each gets its result so
    // the conversation stays whole.
    for (const PendingToolCall& call : conv_.pending) {
      if (std::any_of(results.begin(), results.end(),
                      [&](const Result& r) { return r.tool_use_id == call.tool_use_id; })) {
        continue;
      }
      results.push_back({call.tool_use_id, call.name,
                         {json("Error: not run: the answer given to respond in the same turn ended the run."),
                          true}});
    }
  }
  for (const Result& r : results) {
    entries.push_back(ToolResultEntry(step, clock_.NowMillis(), r.tool_use_id, r.name, r.output, 0));
  }
  if (auto o = Append(std::move(entries))) return o;
  for (const Result& r : results) AddResult(r.tool_use_id, r.output);
  if (answer.has_value()) return Answered(*answer);
  if (invalid_answers_ >= kMaxInvalidAnswers) return AnswerInvalid(invalid);
  return std::nullopt;
}

RunOutcome RunExecution::Answered(const json& answer) const {
  RunOutcome o;
  o.kind = RunOutcome::Kind::kSucceeded;
  o.output = answer.dump();
  return Finish(o);
}

RunOutcome RunExecution::AnswerInvalid(const absl::Status& why) const {
  RunOutcome o;
  o.failure_kind = v1::OUTPUT_INVALID;
  o.error = absl::StrCat("the answer given to respond does not match output_schema, a second time: ", why.message());
  return Finish(o);
}

std::optional<RunOutcome> RunExecution::CallTool(int step, const PendingToolCall& call, ToolOutput* output) {
  const ToolDefinition* tool = FindTool(call.name);
  if (tool == nullptr) {
    *output = {json(absl::StrCat("Error: tool \"", call.name, "\" is not available to this agent")), true};
    return std::nullopt;
  }
  if (call.approval_decision.has_value() && !call.approval_decision->timed_out() &&
      call.approval_request.has_value() && call.approval_request->expire_time_ms() > 0 &&
      call.approval_decision->decide_time_ms() > call.approval_request->expire_time_ms()) {
    // The orchestrator refuses decisions after the deadline; checked again here, just
    // before the call runs, so a decision that should not exist never executes.
    *output = {json(absl::StrCat("Error: the call of \"", call.name,
                                 "\" was not run: its approval was decided after it expired")),
               true};
    return std::nullopt;
  }
  if (call.started && !tool->read_only && !tool->idempotent) {
    // DESIGN.md, the journal: a call that may have run before a crash is not
    // repeated unless the tool says that is safe.
    *output = {json(absl::StrCat("Error: the outcome of this call of \"", call.name,
                                 "\" is unknown: the worker running it stopped before its result "
                                 "was recorded, and the tool is not idempotent, so it was not run again.")),
               true};
    return std::nullopt;
  }
  ToolCallContext ctx;
  ctx.run_id = run_.run_id();
  ctx.step = step;
  ctx.tool_use_id = call.tool_use_id;
  ctx.idempotency_key = IdempotencyKey(run_.run_id(), step, call.tool_use_id);
  ctx.allowed_tools.assign(agent_.allowed_tools().begin(), agent_.allowed_tools().end());
  ctx.timeout = options_.tool_timeout;
  if (deadline_ms_ > 0) {
    ctx.timeout = std::min(ctx.timeout, absl::Milliseconds(deadline_ms_ - clock_.NowMillis()));
  }
  ctx.is_cancelled = [this] { return CancelledOrTimedOut(); };
  ctx.elicitation = agent_.elicitation();
  absl::StatusOr<ToolOutput> called = tools_.CallTool(call.name, RunInput(call), ctx);
  if (!called.ok()) {
    if (auto o = Interrupted()) return o;
    if (PastDeadline()) return TimedOut();
    RunOutcome o;
    o.error = absl::StrCat("tool \"", call.name, "\": ", called.status().message());
    o.failure_kind = v1::WORKER_ERROR;
    // An unreachable tool server: retry the attempt; the journal's resume rule
    // decides whether this call runs again.
    o.retryable = called.status().code() == absl::StatusCode::kUnavailable;
    return Finish(o);
  }
  if (std::optional<ToolOutput> replaced = OversizedToolResult(call.name, *called, options_.max_tool_result_bytes)) {
    BATON_LOG(WARNING) << "run " << run_.run_id() << ": the result of " << call.name << " [" << call.tool_use_id
                       << "] is over --max-tool-result-bytes=" << options_.max_tool_result_bytes
                       << "; the model gets an error instead";
    *output = std::move(*replaced);
    return std::nullopt;
  }
  *output = std::move(*called);
  return std::nullopt;
}

// --- The model call ---

SerializedRequest RunExecution::BuildRequest(const std::string& model) {
  return requests_->Build(conv_.messages, model, previous_request_messages_);
}

int64_t RunExecution::ContextTokens(const SerializedRequest& request) const {
  absl::StatusOr<int64_t> counted = model_.CountTokensSerialized(request, call_);
  if (counted.ok()) return *counted;
  // No count_tokens: about 4 bytes a token, as the API's tokenizers average.
  return static_cast<int64_t>(request.BodyBytes({"system", "messages", "tools"}) + 3) / 4;
}

std::optional<RunOutcome> RunExecution::PrepareStep(int step, ModelChoice* choice, SerializedRequest* request) {
  *request = BuildRequest(agent_.model());
  // The model of this step: the policy's first matching rule, else its default.
  const v1::Compaction& compaction = agent_.compaction();
  PolicyContext policy_context;
  policy_context.step = step;
  FillPreviousStep(conv_.messages, &policy_context);
  std::optional<int64_t> context_tokens;
  if (PolicyNeedsContextTokens(agent_) || compaction.summarize_at_fraction() > 0) {
    context_tokens = ContextTokens(*request);
    policy_context.context_tokens = context_tokens;
  }
  *choice = ChooseModel(agent_, policy_context);

  // Compaction: before a request that would pass the threshold, or one the last
  // turn (discarded, model_context_window_exceeded) showed does not fit.
  int64_t window = compaction.context_window_tokens();
  if (window <= 0) {
    const ModelPrices* prices = options_.prices.Find(choice->model);
    window = prices != nullptr ? prices->context_window : 200'000;
  }
  const bool over_threshold = compaction.summarize_at_fraction() > 0 && context_tokens.has_value() &&
                              *context_tokens > compaction.summarize_at_fraction() * static_cast<double>(window);
  if (!over_threshold && !conv_.needs_compaction) return std::nullopt;
  const bool after_overflow = conv_.needs_compaction;
  const std::string reason = after_overflow ? "model_context_window_exceeded" : "threshold";
  if (!context_tokens.has_value()) context_tokens = ContextTokens(*request);
  const int keep_turns = compaction.keep_last_turns() > 0 ? compaction.keep_last_turns() : 2;
  absl::StatusOr<std::optional<RunOutcome>> compacted =
      Compact(step, choice->model, reason, *context_tokens, keep_turns);
  // After an overflow, keep nothing verbatim if keeping turns leaves nothing to cut.
  if (!compacted.ok() && after_overflow) {
    compacted = Compact(step, choice->model, reason, *context_tokens, 0);
  }
  if (compacted.ok() && compacted->has_value()) return *compacted;
  if (!compacted.ok() && after_overflow) {
    RunOutcome o;
    o.error = absl::StrCat("the conversation does not fit the context window of ", choice->model,
                           " (stop_reason model_context_window_exceeded) and there is nothing left to compact");
    o.failure_kind = v1::CONTEXT_WINDOW_EXCEEDED;
    return Finish(o);
  }
  if (compacted.ok()) {
    *request = BuildRequest(choice->model);
    if (after_overflow) retried_after_overflow_ = true;
  }
  return std::nullopt;
}

std::optional<RunOutcome> RunExecution::CallModel(int step, SerializedRequest& request, ModelChoice* choice,
                                                  ModelResponse* response) {
  // Live text: out to watchers as it streams (not durable; the turn is).
  ModelCallOptions step_call = call_;
  step_call.on_text = [this, step](int block_index, const std::string& text) {
    out_.PublishText(step, block_index, text);
  };
  absl::StatusOr<ModelResponse> answer;
  std::vector<std::string> tried;
  while (true) {
    if (agent_.max_cost_usd() > 0 && options_.prices.Find(choice->model) == nullptr) {
      RunOutcome o;
      o.error = absl::StrCat("model ", choice->model,
                             " has no price in the worker's price table, so max_cost_usd cannot be enforced");
      o.failure_kind = v1::WORKER_ERROR;
      return Finish(o);
    }
    requests_->SetModel(choice->model, &request);
    out_.PublishStepStarted(step, choice->model, choice->rule);
    answer = model_.CreateMessageSerialized(request, step_call);
    if (answer.ok() || CancelledOrTimedOut()) break;
    // An overloaded model (529 past the client's retries) gives way to a fallback.
    if (ApiErrorTypeOf(answer.status()) != "overloaded_error") break;
    tried.push_back(choice->model);
    std::vector<std::string> fallbacks = FallbackModels(agent_, tried);
    if (fallbacks.empty()) break;
    BATON_LOG(WARNING) << run_.run_id() << " step " << step << ": " << choice->model
                       << " stays overloaded; falling back to " << fallbacks.front();
    *choice = {fallbacks.front(), absl::StrCat("fallback after ", choice->model, " overloaded")};
  }
  if (!answer.ok()) return ModelCallFailed(answer.status(), "");
  *response = std::move(*answer);
  return std::nullopt;
}

v1::Usage RunExecution::PricedUsage(const std::string& model, const ModelResponse& response) const {
  v1::Usage usage = UsageFromApi(Member(response.message, "usage"));
  usage.set_cost_usd(options_.prices.Cost(model, CountsOf(usage)));
  options_.metrics.Add(model, usage);
  return usage;
}

RunOutcome RunExecution::ModelCallFailed(const absl::Status& status, const std::string& what) const {
  if (auto o = Interrupted()) return *o;
  if (PastDeadline()) return TimedOut();
  RunOutcome o = ModelFailure(status);
  if (!what.empty()) o.error = absl::StrCat(what, ": ", o.error);
  return Finish(o);
}

// --- Journal a turn ---

std::optional<RunOutcome> RunExecution::Step() {
  if (auto o = Interrupted()) return o;
  if (auto o = CheckLimits()) return o;
  const int step = conv_.steps;
  ModelChoice choice;
  SerializedRequest request;
  if (auto o = PrepareStep(step, &choice, &request)) return o;
  previous_request_messages_ = conv_.messages.size();
  const int64_t started_ms = clock_.NowMillis();
  ModelResponse response;
  if (auto o = CallModel(step, request, &choice, &response)) return o;
  return TakeTurn(step, started_ms, choice, response);
}

std::optional<RunOutcome> RunExecution::TakeTurn(int step, int64_t started_ms, const ModelChoice& choice,
                                                 ModelResponse& response) {
  // The content goes back exactly as it came (thinking blocks and signatures too).
  json content = json::array();
  if (auto it = response.message.find("content"); it != response.message.end() && it->is_array()) {
    content = std::move(*it);
  }
  std::string stop_reason = response.message.value("stop_reason", "");
  if (response.message.contains("stop_reason") && response.message["stop_reason"].is_null()) {
    stop_reason.clear();
  }
  const v1::Usage usage = PricedUsage(choice.model, response);
  const bool overflow = stop_reason == "model_context_window_exceeded";

  v1::ModelTurn turn;
  turn.set_model(response.message.value("model", choice.model));
  turn.set_model_rule(choice.rule);
  // The model's content was parsed from JSON, so it is valid UTF-8: the bytes dump() gives.
  turn.set_content_json(DumpJson(content));
  turn.set_stop_reason(stop_reason);
  *turn.mutable_usage() = usage;
  turn.set_request_id(response.request_id);
  turn.set_discarded(overflow);
  std::vector<v1::JournalEntry> entries{ModelTurnEntry(step, started_ms, std::move(turn))};

  conv_.steps = step + 1;
  AddUsage(usage, &conv_.usage);
  conv_.pending.clear();
  if (overflow) {
    // The turn is dropped; the next step compacts and retries, once.
    conv_.needs_compaction = true;
    if (auto o = Append(std::move(entries))) return o;
    if (retried_after_overflow_) {
      RunOutcome o;
      o.error = absl::StrCat("the conversation does not fit the context window of ", choice.model,
                             " even after compaction (stop_reason model_context_window_exceeded)");
      o.failure_kind = v1::CONTEXT_WINDOW_EXCEEDED;
      return Finish(o);
    }
    return std::nullopt;
  }
  retried_after_overflow_ = false;
  const bool continues = conv_.last_stop_reason == "max_tokens" || conv_.last_stop_reason == "pause_turn";
  conv_.turn_message_index[step] = conv_.messages.size();
  conv_.messages.push_back({{"role", "assistant"}, {"content", content}});
  conv_.last_stop_reason = stop_reason;
  conv_.last_text = continues ? conv_.last_text + TextOfContent(content) : TextOfContent(content);
  // Set when this turn asks for more but a limit ends the run here.
  std::optional<RunOutcome> stop;
  if (stop_reason == "tool_use") {
    for (const json& block : content) {
      if (block.is_object() && block.value("type", "") == "tool_use") {
        PendingToolCall call;
        call.tool_use_id = block.value("id", "");
        call.name = block.value("name", "");
        call.input = block.value("input", json::object());
        conv_.pending.push_back(std::move(call));
      }
    }
    // An answer given to respond ends the run whatever the limits say, as an end_turn
    // does; the turn is written with it.
    if (CallsRespond()) {
      if (auto o = TakeAnswers(step, std::move(entries))) return o;
      entries.clear();
    }
    if (!conv_.pending.empty()) stop = CheckLimits();
    // The turn goes with what its calls start: hand-offs and the first call's marker.
    if (!conv_.pending.empty() && !stop.has_value()) return HandOffAndRun(step, std::move(entries));
  }
  // pause_turn and a cut turn (on_max_tokens CONTINUE) go back as they are: the next
  // request ends with this assistant turn, which the model continues.
  std::optional<RunOutcome> ending = stop.has_value() ? std::nullopt : Ending(step, stop_reason, content);
  // The run's last turn and its success go in one write.
  if (ending.has_value() && ending->kind == RunOutcome::Kind::kSucceeded && !entries.empty()) {
    return AppendFinal(std::move(entries), *std::move(ending));
  }
  if (!entries.empty()) {
    if (auto o = Append(std::move(entries))) return o;
  }
  // The run wants another step, but a limit reached by this one ends it here.
  if (stop.has_value()) return stop;
  return ending;
}

// --- Compaction ---

absl::StatusOr<std::optional<RunOutcome>> RunExecution::Compact(int step, const std::string& model,
                                                                const std::string& reason, int64_t tokens_before,
                                                                int keep) {
  // The cut falls on an assistant turn, so its tool results stay with it.
  size_t cut = conv_.messages.size();
  int through_step = conv_.steps - 1;
  for (auto it = conv_.turn_message_index.rbegin(); it != conv_.turn_message_index.rend() && keep > 0;
       ++it, --keep) {
    cut = it->second;
    through_step = it->first - 1;
  }
  if (cut <= 1 || through_step <= conv_.summarized_through_step) {
    return absl::FailedPreconditionError("nothing to compact");
  }
  json history(conv_.messages.begin(), conv_.messages.begin() + static_cast<std::ptrdiff_t>(cut));
  const json instruction = {{"type", "text"}, {"text", kSummarizeInstruction}};
  json& last = history.back();
  if (last["role"] == "user") {
    if (last["content"].is_string()) {
      last["content"] = json::array({{{"type", "text"}, {"text", last["content"]}}});
    }
    last["content"].push_back(instruction);
  } else {
    history.push_back({{"role", "user"}, {"content", json::array({instruction})}});
  }
  const v1::Compaction& compaction = agent_.compaction();
  const std::string summarizer = compaction.summarizer_model().empty() ? model : compaction.summarizer_model();
  json request = {{"model", summarizer},
                  {"max_tokens", compaction.summary_max_tokens() > 0 ? compaction.summary_max_tokens() : 2048},
                  {"system", kSummarizerSystem},
                  {"messages", std::move(history)}};
  if (!tools_json_.empty()) {
    request["tools"] = tools_json_;  // the history holds tool_use blocks
    request["tool_choice"] = {{"type", "none"}};
  }
  absl::StatusOr<ModelResponse> response = model_.CreateMessage(request, call_);
  if (!response.ok()) return std::optional<RunOutcome>(ModelCallFailed(response.status(), "compaction"));
  const std::string text = TextOfContent(response->message.value("content", json::array()));
  if (text.empty()) {
    RunOutcome o;
    o.error = "compaction: the summarizer returned no text";
    o.failure_kind = v1::MODEL_ERROR;
    return std::optional<RunOutcome>(Finish(o));
  }
  const int64_t time_ms = clock_.NowMillis();
  v1::ContextSummary summary;
  summary.set_text(text);
  summary.set_through_step(through_step);
  summary.set_tokens_before(tokens_before);
  summary.set_model(response->message.value("model", summarizer));
  const v1::Usage usage = PricedUsage(summarizer, *response);
  *summary.mutable_usage() = usage;
  summary.set_request_id(response->request_id);
  summary.set_reason(reason);
  // What the next request will hold (nothing cached to read), counted as the
  // compaction's check.
  RebuiltConversation after = conv_;
  ApplySummary(run_.input(), summary, &after);
  RequestBuilder after_requests(request_parts_);
  summary.set_tokens_after(ContextTokens(after_requests.Build(after.messages, model, 0)));
  BATON_LOG(INFO) << run_.run_id() << ": compacted steps 0-" << through_step << " before step " << step << " ("
                  << tokens_before << " -> " << summary.tokens_after() << " tokens, " << reason << ")";
  if (auto o = Append({SummaryEntry(step, time_ms, std::move(summary))})) return o;
  conv_ = std::move(after);
  requests_->Reset();
  previous_request_messages_ = 0;  // a new prefix: nothing cached to read
  return std::optional<RunOutcome>();
}

// --- Ending ---

std::optional<RunOutcome> RunExecution::Ending(int step, const std::string& stop_reason, const json& content) const {
  if (stop_reason == "tool_use" || stop_reason == "pause_turn" || stop_reason == "model_context_window_exceeded") {
    return std::nullopt;
  }
  RunOutcome o;
  if (stop_reason == "refusal") {
    o.error = absl::StrCat("the model refused to continue (stop_reason refusal) at step ", step);
    o.failure_kind = v1::MODEL_REFUSAL;
    return Finish(o);
  }
  if (stop_reason == "max_tokens") {
    bool cut_tool_call = false;
    for (const json& block : content) {
      cut_tool_call |= block.is_object() && block.value("type", "") == "tool_use";
    }
    const bool fail_on_max_tokens = agent_.on_max_tokens() == v1::AgentSpec::FAIL;
    if (!fail_on_max_tokens && !cut_tool_call) return std::nullopt;  // continue the turn
    o.error = absl::StrCat("the model's turn reached max_tokens ", max_tokens_, " at step ", step,
                           cut_tool_call ? " in the middle of a tool call" : "",
                           fail_on_max_tokens ? " (on_max_tokens FAIL)" : "");
    o.failure_kind = v1::MODEL_MAX_TOKENS;
    return Finish(o);
  }
  if (structured_ != nullptr) {
    absl::StatusOr<std::string> answer = structured_->CheckFinalText(conv_.last_text);
    if (!answer.ok()) {
      o.error = absl::StrCat("the agent ended without calling respond: ", answer.status().message());
      o.failure_kind = v1::OUTPUT_INVALID;
      return Finish(o);
    }
    o.output = *std::move(answer);
  } else {
    o.output = conv_.last_text;
  }
  o.kind = RunOutcome::Kind::kSucceeded;
  return Finish(o);
}

}  // namespace baton::worker
