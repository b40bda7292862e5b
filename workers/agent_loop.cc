#include "workers/agent_loop.h"

#include <optional>

#include "absl/strings/match.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "common/logging.h"
#include "common/transcript.h"
#include "workers/model/api_error.h"
#include "workers/model_policy.h"
#include "workers/prompt_cache.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

v1::Usage UsageFromApi(const json& usage) {
  v1::Usage u;
  auto get = [&](const char* key) -> int64_t {
    return usage.is_object() && usage.contains(key) && usage[key].is_number_integer()
               ? usage[key].get<int64_t>()
               : 0;
  };
  u.set_input_tokens(get("input_tokens"));
  u.set_output_tokens(get("output_tokens"));
  u.set_cache_creation_input_tokens(get("cache_creation_input_tokens"));
  u.set_cache_read_input_tokens(get("cache_read_input_tokens"));
  if (usage.is_object() && usage.contains("cache_creation") && usage["cache_creation"].is_object()) {
    const json& by_ttl = usage["cache_creation"];
    if (by_ttl.contains("ephemeral_1h_input_tokens") && by_ttl["ephemeral_1h_input_tokens"].is_number_integer()) {
      u.set_cache_creation_1h_input_tokens(
          std::min(by_ttl["ephemeral_1h_input_tokens"].get<int64_t>(), u.cache_creation_input_tokens()));
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

constexpr char kSummarizerSystem[] =
    "You write the working memory of an agent whose conversation has grown too long. Summarize the "
    "conversation so that the agent can continue the task from the summary alone: the task and its "
    "constraints, what was done (tool calls and what they returned, with the exact names, identifiers, "
    "numbers and file paths that may matter later), decisions made and why, and what remains to do. Do not "
    "call tools.";
constexpr char kSummarizeInstruction[] =
    "Summarize the conversation above for your own later use, following the system prompt.";

// The API refuses a final assistant turn (continued by the next answer) ending in
// whitespace; the journal keeps it as it came, the request gets it trimmed.
void TrimFinalAssistantText(json& request) {
  json& messages = request["messages"];
  if (!messages.is_array() || messages.empty() || messages.back().value("role", "") != "assistant") return;
  json& content = messages.back()["content"];
  if (!content.is_array() || content.empty() || !content.back().is_object() ||
      content.back().value("type", "") != "text" || !content.back()["text"].is_string()) {
    return;
  }
  std::string text = content.back()["text"].get<std::string>();
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\t' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty()) {
    content.erase(content.size() - 1);
  } else {
    content.back()["text"] = text;
  }
}

json ToolResultBlock(const std::string& tool_use_id, const ToolOutput& output) {
  json block = {{"type", "tool_result"}, {"tool_use_id", tool_use_id}, {"content", output.content}};
  if (output.is_error) block["is_error"] = true;
  return block;
}

}  // namespace

int64_t AgentLoop::ContextTokens(const json& request, const ModelCallOptions& call) {
  absl::StatusOr<int64_t> counted = model_.CountTokens(request, call);
  if (counted.ok()) return *counted;
  // No count_tokens: about 4 bytes a token, as the API's tokenizers average.
  json counted_part = json::object();
  for (const char* key : {"system", "messages", "tools"}) {
    if (request.contains(key)) counted_part[key] = request[key];
  }
  return static_cast<int64_t>(counted_part.dump().size() + 3) / 4;
}

bool ToolAllowed(const std::string& name,
                 const google::protobuf::RepeatedPtrField<std::string>& patterns) {
  for (const std::string& p : patterns) {
    if (!p.empty() && p.back() == '*') {
      if (name.compare(0, p.size() - 1, p, 0, p.size() - 1) == 0) return true;
    } else if (p == name) {
      return true;
    }
  }
  return false;
}

RunOutcome AgentLoop::Execute(const v1::Run& run, const std::vector<v1::JournalEntry>& journal,
                              RunJournal& out, RunSignals& signals) {
  const v1::AgentSpec& agent = run.agent();
  const std::string& run_id = run.run_id();
  absl::StatusOr<RebuiltConversation> rebuilt = RebuildConversation(run.input(), journal);
  RunOutcome result;
  if (!rebuilt.ok()) {
    result.error = absl::StrCat("cannot resume from the journal: ", rebuilt.status().message());
    result.failure_kind = v1::WORKER_ERROR;
    return result;
  }
  RebuiltConversation conv = std::move(*rebuilt);

  auto finish = [&](RunOutcome o) {
    o.usage = conv.usage;
    o.steps = conv.steps;
    return o;
  };
  auto interrupted = [&]() -> std::optional<RunOutcome> {
    RunOutcome o;
    if (signals.lease_lost) o.kind = RunOutcome::Kind::kLeaseLost;
    else if (signals.cancelled) o.kind = RunOutcome::Kind::kCancelled;
    else if (signals.abort || signals.draining) o.kind = RunOutcome::Kind::kReleased;
    else return std::nullopt;
    return finish(o);
  };
  // Appends entries; maps a lost lease or a cancel to the outcome that ends the loop.
  auto append = [&](std::vector<v1::JournalEntry> entries) -> std::optional<RunOutcome> {
    absl::StatusOr<bool> cancelled = out.Append(std::move(entries));
    if (!cancelled.ok()) {
      if (cancelled.status().code() == absl::StatusCode::kFailedPrecondition ||
          cancelled.status().code() == absl::StatusCode::kAborted) {
        signals.lease_lost = true;
      } else {
        RunOutcome o;
        o.kind = RunOutcome::Kind::kFailed;
        o.error = absl::StrCat("cannot journal the step: ", cancelled.status().message());
        o.failure_kind = v1::WORKER_ERROR;
        o.retryable = true;
        return finish(o);
      }
    } else if (*cancelled) {
      signals.cancelled = true;
    }
    if (signals.lease_lost || signals.cancelled) return interrupted();
    return std::nullopt;
  };

  // Limits. Each is checked where it can trip exactly at its bound: steps, tokens, cost
  // and the deadline before every model call and right after a turn that wants more
  // (its tool calls do not run then); tool calls before each call; the deadline also
  // cuts a model or tool call in flight.
  const int max_steps = agent.max_steps() > 0 ? agent.max_steps() : options_.default_max_steps;
  const int64_t deadline_ms = agent.run_timeout_seconds() > 0 && run.start_time_ms() > 0
                                  ? run.start_time_ms() + agent.run_timeout_seconds() * 1000
                                  : 0;
  auto past_deadline = [&] { return deadline_ms > 0 && clock_.NowMillis() >= deadline_ms; };
  auto timed_out = [&] {
    return finish(LimitReached(
        v1::LIMIT_RUN_TIMEOUT, absl::StrCat("run_timeout_seconds ", agent.run_timeout_seconds()),
        absl::StrFormat("%.3f s since the run started", (clock_.NowMillis() - run.start_time_ms()) / 1000.0)));
  };
  auto check_limits = [&]() -> std::optional<RunOutcome> {
    if (conv.steps >= max_steps) {
      return finish(LimitReached(v1::LIMIT_MAX_STEPS, absl::StrCat("max_steps ", max_steps),
                                 absl::StrCat(conv.steps, " steps taken")));
    }
    if (agent.max_tokens_total() > 0 && TotalTokens(conv.usage) >= agent.max_tokens_total()) {
      return finish(LimitReached(v1::LIMIT_MAX_TOKENS_TOTAL, absl::StrCat("max_tokens_total ", agent.max_tokens_total()),
                                 absl::StrCat(TotalTokens(conv.usage), " tokens used")));
    }
    if (agent.max_cost_usd() > 0 && conv.usage.cost_usd() >= agent.max_cost_usd()) {
      return finish(LimitReached(v1::LIMIT_MAX_COST, absl::StrCat("max_cost_usd ", agent.max_cost_usd()),
                                 absl::StrCat(Usd(conv.usage.cost_usd()), " USD spent")));
    }
    if (past_deadline()) return timed_out();
    return std::nullopt;
  };
  auto cancelled_or_timed_out = [&] { return signals.Interrupted() || past_deadline(); };

  // Tools this agent may use.
  std::vector<ToolDefinition> offered;
  if (agent.allowed_tools_size() > 0) {
    absl::StatusOr<std::vector<ToolDefinition>> listed = tools_.ListTools();
    if (!listed.ok()) {
      RunOutcome o;
      o.error = absl::StrCat("cannot list tools: ", listed.status().message());
      o.failure_kind = v1::WORKER_ERROR;
      o.retryable = listed.status().code() == absl::StatusCode::kUnavailable;
      return finish(o);
    }
    for (ToolDefinition& t : *listed) {
      if (ToolAllowed(t.name, agent.allowed_tools())) offered.push_back(std::move(t));
    }
  }
  auto find_tool = [&](const std::string& name) -> const ToolDefinition* {
    for (const ToolDefinition& t : offered) {
      if (t.name == name) return &t;
    }
    return nullptr;
  };

  // Runs the calls still pending in conv (the last assistant turn's), appending each
  // result as it returns together with the start marker of the next call.
  auto run_pending = [&](int step) -> std::optional<RunOutcome> {
    // Results go into the user turn after the assistant turn; a resumed step may
    // already have one holding the results recorded before the crash.
    if (conv.messages.back()["role"] != "user") {
      conv.messages.push_back({{"role", "user"}, {"content", json::array()}});
    }
    json& results = conv.messages.back()["content"];
    std::vector<PendingToolCall> pending = conv.pending;
    for (size_t i = 0; i < pending.size(); ++i) {
      if (auto o = interrupted()) return o;
      const PendingToolCall& call = pending[i];
      if (agent.max_tool_calls() > 0 && conv.usage.tool_calls() >= agent.max_tool_calls()) {
        return finish(LimitReached(v1::LIMIT_MAX_TOOL_CALLS, absl::StrCat("max_tool_calls ", agent.max_tool_calls()),
                                   absl::StrCat(conv.usage.tool_calls(), " tool calls made; ", call.name,
                                                " [", call.tool_use_id, "] not run")));
      }
      if (past_deadline()) return timed_out();
      const ToolDefinition* tool = find_tool(call.name);
      ToolOutput output;
      const int64_t started_ms = clock_.NowMillis();
      if (tool == nullptr) {
        output = {json(absl::StrCat("Error: tool \"", call.name, "\" is not available to this agent")), true};
      } else if (call.started && !tool->read_only && !tool->idempotent) {
        // DESIGN.md, the journal: a call that may have run before a crash is not
        // repeated unless the tool says that is safe.
        output = {json(absl::StrCat("Error: the outcome of this call of \"", call.name,
                                    "\" is unknown: the worker running it stopped before its result "
                                    "was recorded, and the tool is not idempotent, so it was not run again.")),
                  true};
      } else {
        ToolCallContext ctx;
        ctx.run_id = run_id;
        ctx.step = step;
        ctx.tool_use_id = call.tool_use_id;
        ctx.idempotency_key = absl::StrCat(run_id, ":", step, ":", call.tool_use_id);
        ctx.allowed_tools.assign(agent.allowed_tools().begin(), agent.allowed_tools().end());
        ctx.timeout = options_.tool_timeout;
        if (deadline_ms > 0) {
          ctx.timeout = std::min(ctx.timeout, absl::Milliseconds(deadline_ms - clock_.NowMillis()));
        }
        ctx.is_cancelled = cancelled_or_timed_out;
        absl::StatusOr<ToolOutput> called = tools_.CallTool(call.name, call.input, ctx);
        if (!called.ok()) {
          if (auto o = interrupted()) return o;
          if (past_deadline()) return timed_out();
          RunOutcome o;
          o.error = absl::StrCat("tool \"", call.name, "\": ", called.status().message());
          o.failure_kind = v1::WORKER_ERROR;
          // An unreachable tool server: retry the attempt; the journal's resume rule
          // decides whether this call runs again.
          o.retryable = called.status().code() == absl::StatusCode::kUnavailable;
          return finish(o);
        }
        output = std::move(*called);
      }
      v1::JournalEntry entry;
      entry.set_step(step);
      entry.set_time_ms(clock_.NowMillis());
      v1::ToolResult* r = entry.mutable_tool_result();
      r->set_tool_use_id(call.tool_use_id);
      r->set_name(call.name);
      r->set_content_json(output.content.dump());
      r->set_is_error(output.is_error);
      r->set_duration_ms(clock_.NowMillis() - started_ms);
      std::vector<v1::JournalEntry> entries{std::move(entry)};
      if (i + 1 < pending.size() &&
          (agent.max_tool_calls() <= 0 || conv.usage.tool_calls() + 1 < agent.max_tool_calls())) {
        // The next call starts right after (unless max_tool_calls stops it): its marker
        // rides on this write.
        const PendingToolCall& next = pending[i + 1];
        v1::JournalEntry marker;
        marker.set_step(step);
        marker.set_time_ms(clock_.NowMillis());
        marker.mutable_tool_call()->set_tool_use_id(next.tool_use_id);
        marker.mutable_tool_call()->set_name(next.name);
        marker.mutable_tool_call()->set_input_json(next.input.dump());
        marker.mutable_tool_call()->set_idempotency_key(absl::StrCat(run_id, ":", step, ":", next.tool_use_id));
        entries.push_back(std::move(marker));
      }
      if (auto o = append(std::move(entries))) return o;
      results.push_back(ToolResultBlock(call.tool_use_id, output));
      conv.usage.set_tool_calls(conv.usage.tool_calls() + 1);
      conv.pending.erase(conv.pending.begin());
    }
    return std::nullopt;
  };

  const int max_tokens = agent.max_tokens() > 0 ? agent.max_tokens() : options_.default_max_tokens;
  const bool fail_on_max_tokens = agent.on_max_tokens() == v1::AgentSpec::FAIL;
  // How a turn that stopped for a reason other than tool_use ends the run (nullopt: the
  // run goes on with another step).
  auto ending = [&](int step, const std::string& stop_reason,
                    const json& content) -> std::optional<RunOutcome> {
    if (stop_reason == "tool_use" || stop_reason == "pause_turn" ||
        stop_reason == "model_context_window_exceeded") {
      return std::nullopt;
    }
    RunOutcome o;
    if (stop_reason == "refusal") {
      o.error = absl::StrCat("the model refused to continue (stop_reason refusal) at step ", step);
      o.failure_kind = v1::MODEL_REFUSAL;
      return finish(o);
    }
    if (stop_reason == "max_tokens") {
      bool cut_tool_call = false;
      for (const json& block : content) {
        cut_tool_call |= block.is_object() && block.value("type", "") == "tool_use";
      }
      if (!fail_on_max_tokens && !cut_tool_call) return std::nullopt;  // continue the turn
      o.error = absl::StrCat("the model's turn reached max_tokens ", max_tokens, " at step ", step,
                             cut_tool_call ? " in the middle of a tool call" : "",
                             fail_on_max_tokens ? " (on_max_tokens FAIL)" : "");
      o.failure_kind = v1::MODEL_MAX_TOKENS;
      return finish(o);
    }
    o.kind = RunOutcome::Kind::kSucceeded;
    o.output = conv.last_text;
    return finish(o);
  };

  // Resume: finish the calls of the step the journal stops in.
  if (!conv.pending.empty()) {
    if (auto o = check_limits()) return *o;
    if (auto o = run_pending(conv.steps - 1)) return *o;
  } else if (conv.steps > 0 && !conv.needs_compaction) {
    // A journaled answer (the run was not completed before a crash), refusal or cut turn.
    json last_content = json::array();
    if (!conv.turn_message_index.empty()) {
      last_content = conv.messages[conv.turn_message_index.rbegin()->second]["content"];
    }
    if (auto o = ending(conv.steps - 1, conv.last_stop_reason, last_content)) return *o;
  }

  json tools_json = json::array();
  for (const ToolDefinition& t : offered) {
    tools_json.push_back({{"name", t.name}, {"description", t.description}, {"input_schema", t.input_schema}});
  }

  // Messages in the previous step's request: its last block holds the breakpoint this
  // step reads from. On resume, the messages before the last assistant turn.
  size_t previous_request_messages = 0;
  for (size_t i = conv.messages.size(); i-- > 1;) {
    if (conv.messages[i].value("role", "") == "assistant") {
      previous_request_messages = i;
      break;
    }
  }
  auto build_request = [&](const std::string& model) {
    json request = {{"model", model}, {"max_tokens", max_tokens}, {"messages", conv.messages}};
    if (!agent.system().empty()) request["system"] = agent.system();
    if (!tools_json.empty()) request["tools"] = tools_json;
    if (agent.has_temperature()) request["temperature"] = agent.temperature();
    TrimFinalAssistantText(request);
    if (!agent.prompt_caching().disabled()) {
      AddCacheBreakpoints(request, agent.prompt_caching().ttl(), previous_request_messages);
    }
    return request;
  };
  ModelCallOptions call;
  call.stream = !agent.disable_streaming();
  call.attempt_timeout = options_.model_attempt_timeout;
  call.is_cancelled = cancelled_or_timed_out;

  // Context compaction: summarises the turns before the last `keep` ones, journals the
  // summary and continues from it. Returns whether it compacted; an outcome ends the run.
  const v1::Compaction& compaction = agent.compaction();
  auto compact = [&](int step, const std::string& model, const std::string& reason, int64_t tokens_before,
                     int keep) -> absl::StatusOr<std::optional<RunOutcome>> {
    // The cut falls on an assistant turn, so its tool results stay with it.
    size_t cut = conv.messages.size();
    int through_step = conv.steps - 1;
    for (auto it = conv.turn_message_index.rbegin(); it != conv.turn_message_index.rend() && keep > 0; ++it, --keep) {
      cut = it->second;
      through_step = it->first - 1;
    }
    if (cut <= 1 || through_step <= conv.summarized_through_step) return absl::FailedPreconditionError("nothing to compact");
    json history(conv.messages.begin(), conv.messages.begin() + static_cast<std::ptrdiff_t>(cut));
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
    const std::string summarizer = compaction.summarizer_model().empty() ? model : compaction.summarizer_model();
    json request = {{"model", summarizer},
                    {"max_tokens", compaction.summary_max_tokens() > 0 ? compaction.summary_max_tokens() : 2048},
                    {"system", kSummarizerSystem},
                    {"messages", std::move(history)}};
    if (!tools_json.empty()) {
      request["tools"] = tools_json;  // the history holds tool_use blocks
      request["tool_choice"] = {{"type", "none"}};
    }
    ModelCallOptions summary_call = call;
    summary_call.on_text = nullptr;
    absl::StatusOr<ModelResponse> response = model_.CreateMessage(request, summary_call);
    if (!response.ok()) {
      if (auto o = interrupted()) return o;
      if (past_deadline()) return std::optional<RunOutcome>(timed_out());
      RunOutcome o = ModelFailure(response.status());
      o.error = absl::StrCat("compaction: ", o.error);
      return std::optional<RunOutcome>(finish(o));
    }
    const std::string text = TextOfContent(response->message.value("content", json::array()));
    if (text.empty()) {
      RunOutcome o;
      o.error = "compaction: the summarizer returned no text";
      o.failure_kind = v1::MODEL_ERROR;
      return std::optional<RunOutcome>(finish(o));
    }
    v1::JournalEntry entry;
    entry.set_step(step);
    entry.set_time_ms(clock_.NowMillis());
    v1::ContextSummary* summary = entry.mutable_summary();
    summary->set_text(text);
    summary->set_through_step(through_step);
    summary->set_tokens_before(tokens_before);
    summary->set_model(response->message.value("model", summarizer));
    v1::Usage usage = UsageFromApi(response->message.value("usage", json::object()));
    usage.set_cost_usd(options_.prices.Cost(summarizer, CountsOf(usage)));
    *summary->mutable_usage() = usage;
    summary->set_request_id(response->request_id);
    summary->set_reason(reason);
    // What the next request will hold, counted as the compaction's check.
    RebuiltConversation after = conv;
    ApplySummary(run.input(), *summary, &after);
    {
      std::swap(conv, after);
      summary->set_tokens_after(ContextTokens(build_request(model), call));
      std::swap(conv, after);
    }
    BATON_LOG(INFO) << run_id << ": compacted steps 0-" << through_step << " before step " << step << " ("
                    << tokens_before << " -> " << summary->tokens_after() << " tokens, " << reason << ")";
    if (auto o = append({entry})) return o;
    conv = std::move(after);
    previous_request_messages = 0;  // a new prefix: nothing cached to read
    return std::optional<RunOutcome>();
  };
  const int keep_turns = compaction.keep_last_turns() > 0 ? compaction.keep_last_turns() : 2;
  // Set after compacting for model_context_window_exceeded: a second one fails the run.
  bool retried_after_overflow = false;

  while (true) {
    if (auto o = interrupted()) return *o;
    if (auto o = check_limits()) return *o;
    const int step = conv.steps;

    json request = build_request(agent.model());
    // The model of this step: the policy's first matching rule, else its default.
    PolicyContext policy_context;
    policy_context.step = step;
    FillPreviousStep(conv.messages, &policy_context);
    std::optional<int64_t> context_tokens;
    if (PolicyNeedsContextTokens(agent) || compaction.summarize_at_fraction() > 0) {
      context_tokens = ContextTokens(request, call);
      policy_context.context_tokens = context_tokens;
    }
    ModelChoice choice = ChooseModel(agent, policy_context);

    // Compaction: before a request that would pass the threshold, or one the last
    // turn (discarded, model_context_window_exceeded) showed does not fit.
    int64_t window = compaction.context_window_tokens();
    if (window <= 0) {
      const ModelPrices* prices = options_.prices.Find(choice.model);
      window = prices != nullptr ? prices->context_window : 200'000;
    }
    const bool over_threshold = compaction.summarize_at_fraction() > 0 && context_tokens.has_value() &&
                                *context_tokens > compaction.summarize_at_fraction() * static_cast<double>(window);
    if (over_threshold || conv.needs_compaction) {
      const bool after_overflow = conv.needs_compaction;
      const std::string reason = after_overflow ? "model_context_window_exceeded" : "threshold";
      if (!context_tokens.has_value()) context_tokens = ContextTokens(request, call);
      absl::StatusOr<std::optional<RunOutcome>> compacted =
          compact(step, choice.model, reason, *context_tokens, keep_turns);
      // After an overflow, keep nothing verbatim if keeping turns leaves nothing to cut.
      if (!compacted.ok() && after_overflow) {
        compacted = compact(step, choice.model, reason, *context_tokens, 0);
      }
      if (compacted.ok() && compacted->has_value()) return **compacted;
      if (!compacted.ok() && after_overflow) {
        RunOutcome o;
        o.error = absl::StrCat("the conversation does not fit the context window of ", choice.model,
                               " (stop_reason model_context_window_exceeded) and there is nothing left to compact");
        o.failure_kind = v1::CONTEXT_WINDOW_EXCEEDED;
        return finish(o);
      }
      if (compacted.ok()) {
        request = build_request(choice.model);
        if (after_overflow) retried_after_overflow = true;
      }
    }
    previous_request_messages = conv.messages.size();
    // Live text: out to watchers as it streams (not durable; the turn is).
    ModelCallOptions step_call = call;
    step_call.on_text = [&out, step](int block_index, const std::string& text) {
      out.PublishText(step, block_index, text);
    };

    const int64_t started_ms = clock_.NowMillis();
    absl::StatusOr<ModelResponse> response;
    std::vector<std::string> tried;
    while (true) {
      if (agent.max_cost_usd() > 0 && options_.prices.Find(choice.model) == nullptr) {
        RunOutcome o;
        o.error = absl::StrCat("model ", choice.model,
                               " has no price in the worker's price table, so max_cost_usd cannot be enforced");
        o.failure_kind = v1::WORKER_ERROR;
        return finish(o);
      }
      request["model"] = choice.model;
      response = model_.CreateMessage(request, step_call);
      if (response.ok() || cancelled_or_timed_out()) break;
      // An overloaded model (529 past the client's retries) gives way to a fallback.
      if (ApiErrorTypeOf(response.status()) != "overloaded_error") break;
      tried.push_back(choice.model);
      std::vector<std::string> fallbacks = FallbackModels(agent, tried);
      if (fallbacks.empty()) break;
      BATON_LOG(WARNING) << run_id << " step " << step << ": " << choice.model
                         << " stays overloaded; falling back to " << fallbacks.front();
      choice = {fallbacks.front(), absl::StrCat("fallback after ", choice.model, " overloaded")};
    }
    if (!response.ok()) {
      if (auto o = interrupted()) return *o;
      if (past_deadline()) return timed_out();
      return finish(ModelFailure(response.status()));
    }
    // The content goes back exactly as it came (thinking blocks and signatures too).
    json content = response->message.value("content", json::array());
    if (!content.is_array()) content = json::array();
    std::string stop_reason = response->message.value("stop_reason", "");
    if (response->message.contains("stop_reason") && response->message["stop_reason"].is_null()) {
      stop_reason.clear();
    }
    v1::Usage usage = UsageFromApi(response->message.value("usage", json::object()));
    usage.set_cost_usd(options_.prices.Cost(choice.model, CountsOf(usage)));
    const bool overflow = stop_reason == "model_context_window_exceeded";

    v1::JournalEntry turn;
    turn.set_step(step);
    turn.set_time_ms(started_ms);
    v1::ModelTurn* mt = turn.mutable_model_turn();
    mt->set_model(response->message.value("model", choice.model));
    mt->set_model_rule(choice.rule);
    mt->set_content_json(content.dump());
    mt->set_stop_reason(stop_reason);
    *mt->mutable_usage() = usage;
    mt->set_request_id(response->request_id);
    mt->set_discarded(overflow);
    std::vector<v1::JournalEntry> entries{std::move(turn)};

    conv.steps = step + 1;
    AddUsage(usage, &conv.usage);
    conv.pending.clear();
    if (overflow) {
      // The turn is dropped; the next iteration compacts and retries, once.
      conv.needs_compaction = true;
      if (auto o = append(std::move(entries))) return *o;
      if (retried_after_overflow) {
        RunOutcome o;
        o.error = absl::StrCat("the conversation does not fit the context window of ", choice.model,
                               " even after compaction (stop_reason model_context_window_exceeded)");
        o.failure_kind = v1::CONTEXT_WINDOW_EXCEEDED;
        return finish(o);
      }
      continue;
    }
    retried_after_overflow = false;
    const bool continues = conv.last_stop_reason == "max_tokens" || conv.last_stop_reason == "pause_turn";
    conv.turn_message_index[step] = conv.messages.size();
    conv.messages.push_back({{"role", "assistant"}, {"content", content}});
    conv.last_stop_reason = stop_reason;
    conv.last_text = continues ? conv.last_text + TextOfContent(content) : TextOfContent(content);
    // Set when this turn asks for more but a limit ends the run here.
    std::optional<RunOutcome> stop;
    if (stop_reason == "tool_use") {
      for (const json& block : content) {
        if (block.is_object() && block.value("type", "") == "tool_use") {
          conv.pending.push_back(PendingToolCall{block.value("id", ""), block.value("name", ""),
                                                 block.value("input", json::object()), false});
        }
      }
      if (!conv.pending.empty()) stop = check_limits();
      if (!conv.pending.empty() && !stop.has_value() &&
          (agent.max_tool_calls() <= 0 || conv.usage.tool_calls() < agent.max_tool_calls())) {
        // The first call's start marker goes with the turn that asks for it.
        const PendingToolCall& first = conv.pending.front();
        v1::JournalEntry marker;
        marker.set_step(step);
        marker.set_time_ms(clock_.NowMillis());
        marker.mutable_tool_call()->set_tool_use_id(first.tool_use_id);
        marker.mutable_tool_call()->set_name(first.name);
        marker.mutable_tool_call()->set_input_json(first.input.dump());
        marker.mutable_tool_call()->set_idempotency_key(absl::StrCat(run_id, ":", step, ":", first.tool_use_id));
        entries.push_back(std::move(marker));
      }
    }
    if (auto o = append(std::move(entries))) return *o;
    // The run wants another step, but a limit reached by this one ends it here.
    if (stop.has_value()) return *stop;

    if (stop_reason == "tool_use" && !conv.pending.empty()) {
      if (auto o = run_pending(step)) return *o;
      continue;
    }
    // pause_turn and a cut turn (on_max_tokens CONTINUE) go back as they are: the next
    // request ends with this assistant turn, which the model continues.
    if (auto o = ending(step, stop_reason, content)) return *o;
  }
}

}  // namespace baton::worker
