// Test doubles for the agent loop: a scripted model, counting tools, an in-memory
// journal. Shared by the agent loop's tests.
#ifndef BATON_TESTS_WORKERS_AGENT_FAKES_H_
#define BATON_TESTS_WORKERS_AGENT_FAKES_H_

#include <deque>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "absl/status/status.h"
#include "workers/agent_loop.h"

namespace baton::worker::fakes {

using json = nlohmann::json;

// Answers with scripted messages and records every request.
class FakeModelClient final : public ModelClient {
 public:
  void Reply(json message) { replies_.push_back(std::move(message)); }
  void Fail(absl::Status status) { failures_.push_back(std::move(status)); }
  // Requests for `model` from the `from_request`-th on (0-based, over all requests) fail
  // with `status`; checked before the queues.
  void FailFor(const std::string& model, absl::Status status, size_t from_request = 0) {
    model_failures_[model] = {from_request, std::move(status)};
  }

  absl::StatusOr<ModelResponse> CreateMessage(const json& request, const ModelCallOptions& call) override {
    requests.push_back(request);
    if (on_call) {
      absl::Status s = on_call(call);
      if (!s.ok()) return s;
    }
    if (auto it = model_failures_.find(request.value("model", ""));
        it != model_failures_.end() && requests.size() > it->second.first) {
      return it->second.second;
    }
    if (!failures_.empty()) {
      absl::Status s = failures_.front();
      failures_.pop_front();
      return s;
    }
    if (replies_.empty()) return absl::InternalError("fake model: no reply scripted");
    ModelResponse r;
    r.message = replies_.front();
    replies_.pop_front();
    // Like the API: the answer names the model asked for.
    if (!r.message.contains("model")) r.message["model"] = request.value("model", "");
    r.request_id = "req_fake";
    return r;
  }

  absl::StatusOr<int64_t> CountTokens(const json& request, const ModelCallOptions&) override {
    if (!count_tokens) return absl::UnimplementedError("no count_tokens");
    return count_tokens(request);
  }

  std::vector<json> requests;
  std::function<int64_t(const json&)> count_tokens;  // unset: kUnimplemented
  // Runs first on every call; a non-OK status is the call's answer.
  std::function<absl::Status(const ModelCallOptions&)> on_call;

 private:
  std::deque<json> replies_;
  std::deque<absl::Status> failures_;
  std::map<std::string, std::pair<size_t, absl::Status>> model_failures_;
};

// Counts calls per tool; "charge" is not idempotent.
class CountingTools final : public ToolExecutor {
 public:
  absl::StatusOr<std::vector<ToolDefinition>> ListTools() override {
    return std::vector<ToolDefinition>{
        {"echo", "echo", json{{"type", "object"}}, true, true},
        {"charge", "not idempotent", json{{"type", "object"}}, false, false},
        {"slow", "runs on_call", json{{"type", "object"}}, true, true},
    };
  }
  absl::StatusOr<ToolOutput> CallTool(const std::string& name, const json& input,
                                      const ToolCallContext& ctx) override {
    calls.push_back(name + ":" + ctx.idempotency_key);
    inputs.push_back(input);
    elicitations.push_back(ctx.elicitation);
    if (name == "slow" && on_call) return on_call(ctx);
    if (name == "charge" && input.value("fail", false)) return ToolOutput{json("card declined"), true};
    return ToolOutput{json(name + " ok"), false};
  }
  std::vector<std::string> calls;
  std::vector<json> inputs;       // of each call
  std::vector<int> elicitations;  // ToolCallContext.elicitation of each call
  std::function<absl::StatusOr<ToolOutput>(const ToolCallContext&)> on_call;
};

// Keeps what was appended, like the orchestrator would: a child run for each child
// spec, named in its ToolCall entry.
class MemoryJournal final : public RunJournal {
 public:
  absl::StatusOr<bool> Append(std::vector<v1::JournalEntry> entries,
                              std::vector<v1::ChildRunSpec> children) override {
    if (fail_with.has_value()) return *fail_with;
    for (auto& e : entries) {
      for (const v1::ChildRunSpec& child : children) {
        if (e.has_tool_call() && e.tool_call().tool_use_id() == child.tool_use_id()) {
          e.mutable_tool_call()->set_child_run_id("child_" + child.tool_use_id());
        }
      }
      e.set_seq(static_cast<int64_t>(journal.size()) + 1);
      journal.push_back(std::move(e));
    }
    appended_children.push_back(std::move(children));
    appends++;
    return cancel_after_append;
  }
  // The run's last append and its success: taken together when `completes_with_final`
  // (an orchestrator that ends the run with the append), else only appended (as one
  // from before that would).
  absl::StatusOr<bool> AppendFinal(std::vector<v1::JournalEntry> entries, const RunOutcome& outcome) override {
    absl::StatusOr<bool> appended = Append(std::move(entries), {});
    if (!appended.ok()) return appended.status();
    final_outcome = outcome;
    return completes_with_final;
  }
  absl::Status ConfirmLease() override {
    ++lease_checks;
    return confirm_with;
  }
  void PublishStepStarted(int step, const std::string& model, const std::string& model_rule) override {
    started.push_back({step, model, model_rule, static_cast<int>(journal.size())});
  }
  // Each live step start, with how many entries were journaled when it came.
  struct Started {
    int step;
    std::string model;
    std::string model_rule;
    int journaled;
  };
  std::vector<Started> started;
  std::vector<v1::JournalEntry> journal;
  // The children of each append, in order.
  std::vector<std::vector<v1::ChildRunSpec>> appended_children;
  int appends = 0;
  bool cancel_after_append = false;
  bool completes_with_final = false;
  std::optional<RunOutcome> final_outcome;  // what AppendFinal was given
  std::optional<absl::Status> fail_with;
  // ConfirmLease's answer (before each tool call), and how often it was asked.
  absl::Status confirm_with;
  int lease_checks = 0;
};

inline json ToolUse(const std::string& id, const std::string& name, json input = json::object()) {
  return {{"type", "tool_use"}, {"id", id}, {"name", name}, {"input", input}};
}
inline json Message(json content, const std::string& stop) {
  return {{"content", content}, {"stop_reason", stop},
          {"usage", {{"input_tokens", 10}, {"output_tokens", 5}}}};
}

}  // namespace baton::worker::fakes

#endif  // BATON_TESTS_WORKERS_AGENT_FAKES_H_
