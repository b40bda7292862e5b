#include "cli/format.h"

#include <algorithm>
#include <map>
#include <set>

#include <google/protobuf/util/json_util.h>
#include <nlohmann/json.hpp>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_format.h"
#include "absl/strings/str_join.h"
#include "absl/strings/str_split.h"
#include "cli/approvals.h"
#include "cli/graph_format.h"
#include "common/proto_json.h"

namespace baton::cli {
namespace {

std::string WithCommas(int64_t n) {
  std::string digits = std::to_string(n < 0 ? -n : n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return n < 0 ? "-" + out : out;
}

std::string Plural(int64_t n, absl::string_view noun) {
  return absl::StrCat(WithCommas(n), " ", noun, n == 1 ? "" : "s");
}

std::string Tokens(const v1::Usage& usage) {
  std::string out = absl::StrCat(WithCommas(usage.input_tokens()), " in / ",
                                 WithCommas(usage.output_tokens()), " out tokens");
  if (usage.cache_read_input_tokens() > 0 || usage.cache_creation_input_tokens() > 0) {
    absl::StrAppend(&out, " (cache: ", WithCommas(usage.cache_read_input_tokens()), " read, ",
                    WithCommas(usage.cache_creation_input_tokens()), " written)");
  }
  if (usage.cost_usd() > 0) {
    absl::StrAppend(&out, ", $", absl::StrFormat(usage.cost_usd() < 0.01 ? "%.6f" : "%.4f", usage.cost_usd()));
  }
  return out;
}

// Every line of `text` prefixed by `indent`, each ending in '\n'.
std::string Indent(absl::string_view text, absl::string_view indent) {
  std::string out;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::StrAppend(&out, indent, line, "\n");
  }
  return out;
}

// Like Indent but the first line follows `first` instead of the indent.
std::string Hanging(absl::string_view first, absl::string_view text) {
  std::string indent(first.size(), ' ');
  std::string out;
  bool is_first = true;
  for (absl::string_view line : absl::StrSplit(text, '\n')) {
    absl::StrAppend(&out, is_first ? first : indent, line, "\n");
    is_first = false;
  }
  return out;
}

std::string FailureKindName(v1::FailureKind kind) { return v1::FailureKind_Name(kind); }

std::string FormatTime(int64_t ms, absl::TimeZone tz) {
  if (ms <= 0) return "-";
  return absl::FormatTime("%Y-%m-%d %H:%M:%E3S %Z", absl::FromUnixMillis(ms), tz);
}

std::string FormatDuration(int64_t ms) {
  if (ms < 1000) return absl::StrCat(ms, " ms");
  if (ms < 60'000) return absl::StrFormat("%.1f s", ms / 1000.0);
  if (ms < 3'600'000) return absl::StrCat(ms / 60'000, " min ", (ms / 1000) % 60, " s");
  return absl::StrCat(ms / 3'600'000, " h ", (ms / 60'000) % 60, " min");
}

std::string Age(int64_t create_ms, int64_t now_ms) {
  if (create_ms <= 0) return "-";
  int64_t s = std::max<int64_t>(0, (now_ms - create_ms) / 1000);
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 86400) return absl::StrCat(s / 3600, "h");
  return absl::StrCat(s / 86400, "d");
}

// The text of a Messages API content value: a string or an array of blocks.
std::string ContentText(const nlohmann::json& content) {
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return content.dump();
  std::vector<std::string> parts;
  for (const auto& block : content) {
    std::string type = block.is_object() ? block.value("type", "") : "";
    if (type == "text" && block.contains("text") && block["text"].is_string()) {
      parts.push_back(block["text"].get<std::string>());
    } else {
      parts.push_back(absl::StrCat("[", type.empty() ? "block" : type, "]"));
    }
  }
  return absl::StrJoin(parts, "\n");
}

std::string ContentJsonText(const std::string& content_json) {
  auto parsed = nlohmann::json::parse(content_json, nullptr, false);
  if (parsed.is_discarded()) return content_json;
  return ContentText(parsed);
}

// Time left until a deadline: "45s", "12m", "23h 59m", "2d 3h"; empty once past.
std::string Remaining(int64_t deadline_ms, int64_t now_ms) {
  int64_t s = (deadline_ms - now_ms) / 1000;
  if (s <= 0) return "";
  if (s < 60) return absl::StrCat(s, "s");
  if (s < 3600) return absl::StrCat(s / 60, "m");
  if (s < 86400) return absl::StrCat(s / 3600, "h ", (s / 60) % 60, "m");
  return absl::StrCat(s / 86400, "d ", (s / 3600) % 24, "h");
}

// "in 23h 59m", "expired"; "-" without a deadline.
std::string TimeLeft(int64_t deadline_ms, int64_t now_ms) {
  if (deadline_ms <= 0) return "-";
  std::string left = Remaining(deadline_ms, now_ms);
  return left.empty() ? "expired" : absl::StrCat("in ", left);
}

std::string ExpiresIn(int64_t deadline_ms, int64_t now_ms) {
  std::string left = Remaining(deadline_ms, now_ms);
  return left.empty() ? "expired" : absl::StrCat("expires in ", left);
}

std::string DecisionName(v1::Decision decision) {
  const std::string& name = v1::Decision_Name(decision);
  return name.empty() ? absl::StrCat("DECISION_", static_cast<int>(decision)) : name;
}

std::string ApprovalStateName(v1::Approval::State state) {
  const std::string& name = v1::Approval::State_Name(state);
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

bool IsInputRequest(const v1::Approval& approval) { return approval.kind() == v1::Approval::ELICITATION; }
bool IsGraphQuestion(const v1::Approval& approval) { return approval.kind() == v1::Approval::GRAPH_NODE; }

bool Allows(const std::vector<v1::Decision>& allowed, v1::Decision decision) {
  return std::find(allowed.begin(), allowed.end(), decision) != allowed.end();
}

// What a request is about, on one line: "sleep {\"seconds\":5}" for a tool call, the
// server's message for an input request, the prompt for a graph's human node.
std::string ApprovalSubject(const v1::Approval& approval, size_t max_chars) {
  if (IsInputRequest(approval) || IsGraphQuestion(approval)) return Preview(approval.message(), max_chars);
  std::string input = approval.input_json().empty() ? "{}" : approval.input_json();
  return absl::StrCat(approval.tool(), " ", Preview(input, max_chars));
}

// "waiting for 2 child runs / 1 approval / the previous run run_x".
std::string WaitingLine(const v1::RunEvent::Waiting& e) {
  std::vector<std::string> parts;
  if (e.child_run_ids_size() > 0) parts.push_back(Plural(e.child_run_ids_size(), "child run"));
  if (e.approval_ids_size() > 0) parts.push_back(Plural(e.approval_ids_size(), "approval"));
  if (!e.previous_run_id().empty()) {
    parts.push_back(absl::StrCat("the session's previous run ", e.previous_run_id()));
  }
  if (parts.empty()) return "waiting\n";
  return absl::StrCat("waiting for ", absl::StrJoin(parts, " / "), "\n");
}

// One of Run.waits for `baton get`.
std::string FormatWait(const v1::Wait& wait, const v1::Run& run, int64_t now_ms) {
  std::string out;
  switch (wait.what_case()) {
    case v1::Wait::kChildRunId:
      out = absl::StrCat("child run ", wait.child_run_id());
      if (!wait.name().empty()) absl::StrAppend(&out, " (subagent ", wait.name(), ")");
      break;
    case v1::Wait::kApprovalId: {
      out = absl::StrCat("approval ", wait.approval_id());
      std::vector<std::string> details;
      if (!wait.name().empty()) details.push_back(absl::StrCat("tool ", wait.name()));
      if (!wait.done() && wait.expire_time_ms() > 0) details.push_back(ExpiresIn(wait.expire_time_ms(), now_ms));
      if (!details.empty()) absl::StrAppend(&out, " (", absl::StrJoin(details, ", "), ")");
      break;
    }
    case v1::Wait::kPreviousRunId:
      out = absl::StrCat("previous run ", wait.previous_run_id());
      if (!run.session_id().empty()) absl::StrAppend(&out, " of session ", run.session_id());
      break;
    case v1::Wait::WHAT_NOT_SET:
      out = absl::StrCat("tool call ", wait.tool_use_id());
      break;
  }
  if (wait.done()) absl::StrAppend(&out, ": done");
  return out;
}

// Cuts long multi-line text (tool results in a transcript), keeping the lines.
std::string Truncate(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(text.substr(0, cut), "\n... (", WithCommas(text.size() - cut), " more bytes)");
}

// `baton transcript`: one method per kind of journal entry. Remembers what earlier
// entries said that later ones need (tool names, the calls a turn showed). One per
// transcript; not thread-safe.
class TranscriptPrinter {
 public:
  explicit TranscriptPrinter(const v1::Transcript& transcript) : transcript_(transcript) {
    for (const v1::JournalEntry& entry : transcript.entries()) {
      if (entry.has_tool_result()) answered_.insert(entry.tool_result().tool_use_id());
      if (entry.has_approval_decision()) decided_.insert(entry.approval_decision().tool_use_id());
      if (entry.has_tool_call()) {
        tool_names_[entry.tool_call().tool_use_id()] = entry.tool_call().name();
        if (!entry.tool_call().child_run_id().empty()) children_.insert(entry.tool_call().tool_use_id());
      }
      if (entry.has_approval_request()) {
        tool_names_.emplace(entry.approval_request().tool_use_id(), entry.approval_request().name());
      }
    }
  }
  TranscriptPrinter(const TranscriptPrinter&) = delete;
  TranscriptPrinter& operator=(const TranscriptPrinter&) = delete;

  std::string Print() {
    out_ = absl::StrCat("transcript of ", transcript_.run_id(), "\n");
    if (!transcript_.history_run_ids().empty()) {
      absl::StrAppend(&out_, "continues ", absl::StrJoin(transcript_.history_run_ids(), ", "),
                      " (their conversation comes before this input)\n");
    }
    absl::StrAppend(&out_, "\nuser:\n", Indent(transcript_.input(), "  "));
    for (const v1::JournalEntry& entry : transcript_.entries()) {
      switch (entry.entry_case()) {
        case v1::JournalEntry::kModelTurn:
          ModelTurn(entry);
          break;
        case v1::JournalEntry::kToolCall:
          ToolCall(entry);
          break;
        case v1::JournalEntry::kToolResult:
          ToolResult(entry);
          break;
        case v1::JournalEntry::kSummary:
          Summary(entry);
          break;
        case v1::JournalEntry::kApprovalRequest:
          ApprovalRequest(entry);
          break;
        case v1::JournalEntry::kApprovalDecision:
          ApprovalDecision(entry);
          break;
        case v1::JournalEntry::kNodeStarted:
        case v1::JournalEntry::kNodeFinished:
          break;  // a graph run's: shown below from the node runs, with their outputs
        case v1::JournalEntry::ENTRY_NOT_SET:
          break;
      }
    }
    if (!transcript_.nodes().empty()) absl::StrAppend(&out_, FormatNodeRuns(transcript_.nodes()));
    absl::StrAppend(&out_, "\nusage: ", FormatUsage(transcript_.usage()), "\n");
    return std::move(out_);
  }

 private:
  static constexpr size_t kMaxResultChars = 4000;
  static constexpr size_t kMaxInputChars = 2000;

  // "#3 ": the entry's seq, where `baton fork --at` can cut.
  static std::string Seq(const v1::JournalEntry& entry) {
    return entry.seq() > 0 ? absl::StrCat("#", entry.seq(), " ") : "";
  }

  std::string NameOf(const std::string& tool_use_id) const {
    auto name = tool_names_.find(tool_use_id);
    return name == tool_names_.end() ? "?" : name->second;
  }

  // A call the model turn did not show (its turn was summarized away): name and input.
  void CallLineUnlessShown(const std::string& tool_use_id, const std::string& name, const std::string& input) {
    if (in_turns_.count(tool_use_id)) return;
    absl::StrAppend(&out_, "  -> ", name, " ", Preview(input.empty() ? "{}" : input, kMaxInputChars), "  [",
                    tool_use_id, "]\n");
  }

  void ModelTurn(const v1::JournalEntry& entry) {
    const v1::ModelTurn& turn = entry.model_turn();
    absl::StrAppend(&out_, "\n", Seq(entry), "step ", entry.step(), " · ", turn.model().empty() ? "?" : turn.model());
    if (!turn.model_rule().empty()) absl::StrAppend(&out_, " (", turn.model_rule(), ")");
    if (turn.discarded()) absl::StrAppend(&out_, " · discarded, retried after compaction");
    if (!turn.stop_reason().empty()) absl::StrAppend(&out_, " · ", turn.stop_reason());
    if (turn.has_usage()) absl::StrAppend(&out_, " · ", Tokens(turn.usage()));
    absl::StrAppend(&out_, "\nassistant:\n");
    auto blocks = nlohmann::json::parse(turn.content_json(), nullptr, false);
    if (blocks.is_discarded() || !blocks.is_array()) {
      absl::StrAppend(&out_, Indent(turn.content_json(), "  "));
      return;
    }
    for (const auto& block : blocks) {
      std::string type = block.is_object() ? block.value("type", "") : "";
      if (type == "text") {
        absl::StrAppend(&out_, Indent(block.value("text", ""), "  "));
      } else if (type == "tool_use") {
        std::string id = block.value("id", "");
        std::string name = block.value("name", "");
        in_turns_.insert(id);
        tool_names_.emplace(id, name);
        std::string input = block.contains("input") ? block["input"].dump() : "{}";
        absl::StrAppend(&out_, "  -> ", name, " ", Preview(input, kMaxInputChars), "  [", id, "]\n");
      } else if (type == "thinking") {
        absl::StrAppend(&out_, "  (thinking)\n");
      } else {
        absl::StrAppend(&out_, "  [", type.empty() ? "block" : type, "]\n");
      }
    }
  }

  void ToolCall(const v1::JournalEntry& entry) {
    const v1::ToolCall& call = entry.tool_call();
    const std::string& id = call.tool_use_id();
    CallLineUnlessShown(id, call.name(), call.input_json());
    const bool answered = answered_.count(id) > 0;
    if (!call.child_run_id().empty()) {
      absl::StrAppend(&out_, Seq(entry), "subagent ", call.name(), " [", id, "]: child run ", call.child_run_id(),
                      answered ? "" : ", no result yet", "\n");
      return;
    }
    std::vector<std::string> notes;
    if (!call.edited_input_json().empty()) {
      notes.push_back(absl::StrCat("edited input ", Preview(call.edited_input_json(), kMaxInputChars)));
    }
    if (!answered) notes.push_back("started, no result recorded");
    if (notes.empty()) return;
    absl::StrAppend(&out_, Seq(entry), "tool ", call.name(), " [", id, "]: ", absl::StrJoin(notes, "; "), "\n");
  }

  void ToolResult(const v1::JournalEntry& entry) {
    const v1::ToolResult& result = entry.tool_result();
    const std::string& id = result.tool_use_id();
    absl::StrAppend(&out_, Seq(entry), children_.count(id) ? "subagent " : "tool ", NameOf(id), " [", id, "]",
                    result.is_error() ? " ERROR" : "", " (", FormatDuration(result.duration_ms()), "):\n");
    absl::StrAppend(&out_, Indent(Truncate(ContentJsonText(result.content_json()), kMaxResultChars), "  "));
  }

  void Summary(const v1::JournalEntry& entry) {
    const v1::ContextSummary& summary = entry.summary();
    absl::StrAppend(&out_, "\n", Seq(entry), "context compacted before step ", entry.step(), " · steps 0-",
                    summary.through_step(), " summarized by ", summary.model().empty() ? "?" : summary.model(),
                    " · ", WithCommas(summary.tokens_before()), " -> ", WithCommas(summary.tokens_after()),
                    " tokens · ", summary.reason(), "\nsummary:\n");
    absl::StrAppend(&out_, Indent(summary.text(), "  "));
  }

  void ApprovalRequest(const v1::JournalEntry& entry) {
    const v1::ApprovalRequest& request = entry.approval_request();
    CallLineUnlessShown(request.tool_use_id(), request.name(), request.input_json());
    absl::StrAppend(&out_, Seq(entry), "approval requested for ", request.name(), " [", request.tool_use_id(), "]");
    if (!request.approval_id().empty()) absl::StrAppend(&out_, " · id ", request.approval_id());
    if (!decided_.count(request.tool_use_id())) absl::StrAppend(&out_, " · no decision yet");
    absl::StrAppend(&out_, "\n");
  }

  void ApprovalDecision(const v1::JournalEntry& entry) {
    const v1::ApprovalDecision& decision = entry.approval_decision();
    absl::StrAppend(&out_, Seq(entry), "approval for ", NameOf(decision.tool_use_id()), " [", decision.tool_use_id(),
                    "]: ", FormatDecision(decision), "\n");
  }

  const v1::Transcript& transcript_;
  std::set<std::string> answered_;  // tool_use ids with a recorded result
  std::set<std::string> decided_;   // tool_use ids whose approval was decided
  std::set<std::string> children_;  // tool_use ids answered by a child run
  std::set<std::string> in_turns_;  // tool_use ids shown as part of a model turn
  std::map<std::string, std::string> tool_names_;
  std::string out_;
};

}  // namespace

std::string StateName(v1::RunState state) {
  if (state == v1::RUN_STATE_UNSPECIFIED) return "UNSPECIFIED";
  const std::string& name = v1::RunState_Name(state);
  return name.empty() ? absl::StrCat("STATE_", static_cast<int>(state)) : name;
}

bool IsTerminal(v1::RunState state) {
  return state == v1::SUCCEEDED || state == v1::FAILED || state == v1::CANCELLED;
}

std::string Preview(absl::string_view text, size_t max_chars) {
  std::string out;
  for (char c : text) {
    if (c == '\n') {
      out += "\\n";
    } else if (c == '\r') {
      continue;
    } else if (c == '\t') {
      out += ' ';
    } else {
      out += c;
    }
  }
  if (out.size() <= max_chars) return out;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(out[cut]) & 0xC0) == 0x80) --cut;
  return out.substr(0, cut) + "...";
}

std::string FormatUsage(const v1::Usage& usage) {
  return absl::StrCat(Plural(usage.model_calls(), "model call"), ", ",
                      Plural(usage.tool_calls(), "tool call"), ", ", Tokens(usage));
}

std::string FormatEvent(const v1::RunEvent& event) {
  switch (event.event_case()) {
    case v1::RunEvent::kStateChanged: {
      const auto& e = event.state_changed();
      std::string line = absl::StrCat("state ", StateName(e.state()));
      std::vector<std::string> details;
      if (e.attempt() > 0 && (e.state() == v1::RUNNING || e.attempt() > 1)) {
        details.push_back(absl::StrCat("attempt ", e.attempt()));
      }
      if (e.lease_losses() > 0) details.push_back(absl::StrCat("leases lost ", e.lease_losses()));
      if (!e.worker_id().empty()) details.push_back(e.worker_id());
      if (!details.empty()) absl::StrAppend(&line, " (", absl::StrJoin(details, ", "), ")");
      if (e.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
        absl::StrAppend(&line, " [", FailureKindName(e.failure_kind()), "]");
      }
      if (!e.reason().empty()) absl::StrAppend(&line, ": ", e.reason());
      return line + "\n";
    }
    case v1::RunEvent::kStepStarted: {
      const auto& e = event.step_started();
      return absl::StrCat("step ", e.step(), ": model ", e.model().empty() ? "?" : e.model(),
                          e.model_rule().empty() ? "" : absl::StrCat(" (", e.model_rule(), ")"), "\n");
    }
    case v1::RunEvent::kStepFinished: {
      const auto& e = event.step_finished();
      std::string line = absl::StrCat("step ", e.step(), " done");
      if (!e.stop_reason().empty()) absl::StrAppend(&line, ": ", e.stop_reason());
      if (e.has_usage()) absl::StrAppend(&line, ", ", Tokens(e.usage()));
      return line + "\n";
    }
    case v1::RunEvent::kToolCallStarted: {
      const auto& e = event.tool_call_started();
      std::string input = e.input_json().empty() ? "{}" : e.input_json();
      return absl::StrCat("  tool ", e.name(), " ", Preview(input), "\n");
    }
    case v1::RunEvent::kToolCallFinished: {
      const auto& e = event.tool_call_finished();
      return absl::StrCat("  tool ", e.name(), e.is_error() ? " -> ERROR: " : " -> ",
                          Preview(e.output_preview()), " (", FormatDuration(e.duration_ms()), ")\n");
    }
    case v1::RunEvent::kText: {
      const auto& e = event.text();
      if (e.text().empty()) return "";
      return Hanging("  text: ", e.text());
    }
    case v1::RunEvent::kFinalOutput: {
      const auto& e = event.final_output();
      std::string out;
      if (e.has_usage()) absl::StrAppend(&out, "usage: ", FormatUsage(e.usage()), "\n");
      absl::StrAppend(&out, "output:\n", e.text());
      if (e.text().empty() || e.text().back() != '\n') out += '\n';
      return out;
    }
    case v1::RunEvent::kContextCompacted: {
      const auto& e = event.context_compacted();
      return absl::StrCat("context compacted before step ", e.step(), ": steps 0-", e.through_step(),
                          " summarized by ", e.model().empty() ? "?" : e.model(), " (",
                          WithCommas(e.tokens_before()), " -> ", WithCommas(e.tokens_after()), " tokens, ",
                          e.reason(), ")\n");
    }
    case v1::RunEvent::kTextDelta:
      return event.text_delta().text();  // printed as it arrives, no newline of its own
    case v1::RunEvent::kGap:
      return "\n[live text skipped; the step's full text follows]\n";
    case v1::RunEvent::kChildStarted: {
      const auto& e = event.child_started();
      return absl::StrCat("  child ", e.child_run_id(), " started",
                          e.name().empty() ? "" : absl::StrCat(" (subagent ", e.name(), ")"), "\n");
    }
    case v1::RunEvent::kChildFinished: {
      const auto& e = event.child_finished();
      return absl::StrCat("  child ", e.child_run_id(), " ", StateName(e.state()),
                          e.output_preview().empty() ? "" : absl::StrCat(": ", Preview(e.output_preview())), "\n");
    }
    case v1::RunEvent::kApprovalRequested: {
      const v1::Approval& approval = event.approval_requested().approval();
      // A graph's question: its prompt is long and its id too, so the answer gets a line.
      if (IsGraphQuestion(approval)) {
        return absl::StrCat("  node ", approval.tool(), " asks: ", ApprovalSubject(approval, kPreviewChars),
                            "\n    answer: ", ApprovalHint(approval), "\n");
      }
      std::string line = IsInputRequest(approval)
                             ? absl::StrCat("  input requested", approval.tool().empty() ? "" : " by ",
                                            approval.tool(), ": ", ApprovalSubject(approval, kPreviewChars))
                             : absl::StrCat("  approval needed: ", ApprovalSubject(approval, kPreviewChars));
      return absl::StrCat(line, "  →  ", ApprovalHint(approval), "\n");
    }
    case v1::RunEvent::kApprovalDecided: {
      const auto& e = event.approval_decided();
      const std::string& id = e.approval_id().empty() ? e.decision().approval_id() : e.approval_id();
      return absl::StrCat("  approval ", id, ": ", FormatDecision(e.decision()), "\n");
    }
    case v1::RunEvent::kWaiting:
      return WaitingLine(event.waiting());
    case v1::RunEvent::kNodeStarted:
    case v1::RunEvent::kNodeFinished:
    case v1::RunEvent::kEdgeTaken:
    case v1::RunEvent::kMapProgress:
      return FormatNodeEvent(event);
    case v1::RunEvent::EVENT_NOT_SET:
      break;
  }
  return "";
}

std::string FormatRun(const v1::Run& run, int64_t now_ms, absl::TimeZone tz) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&rows](std::string key, std::string value) {
    rows.push_back({std::move(key), std::move(value)});
  };
  add("run", run.run_id());
  std::string state = StateName(run.state());
  if (run.cancel_requested() && !IsTerminal(run.state())) state += " (cancel requested)";
  add("state", state);
  const bool graph = run.has_graph();
  if (graph) {
    add("graph", absl::StrCat(GraphSummary(run.graph()), " (baton transcript ", run.run_id(), ": each node's run)"));
  } else {
    const v1::AgentSpec& agent = run.agent();
    std::string agent_line = agent.name().empty() ? "(inline)" : agent.name();
    if (agent.version() > 0) absl::StrAppend(&agent_line, " v", agent.version());
    if (!agent.model().empty()) absl::StrAppend(&agent_line, ", model ", agent.model());
    add("agent", agent_line);
  }
  add("input", Preview(run.input(), 200));
  if (run.priority() != 0) add("priority", absl::StrCat(run.priority()));
  if (run.attempt() > 0) add("attempt", absl::StrCat(run.attempt(), " (epoch ", run.epoch(), ")"));
  // Leases its workers lost (died, froze, cut off): not the run's failed attempts.
  if (run.lease_losses() > 0) add("leases lost", absl::StrCat(run.lease_losses()));
  if (!run.worker_id().empty()) add("worker", run.worker_id());
  if (!run.request_id().empty()) add("request id", run.request_id());
  if (!run.labels().empty()) {
    std::map<std::string, std::string> sorted(run.labels().begin(), run.labels().end());
    add("labels", absl::StrJoin(sorted, ", ", absl::PairFormatter("=")));
  }
  add("created", FormatTime(run.create_time_ms(), tz));
  if (run.start_time_ms() > 0) add("started", FormatTime(run.start_time_ms(), tz));
  if (run.end_time_ms() > 0) {
    std::string ended = FormatTime(run.end_time_ms(), tz);
    if (run.start_time_ms() > 0) {
      absl::StrAppend(&ended, " (took ", FormatDuration(run.end_time_ms() - run.start_time_ms()), ")");
    }
    add("ended", ended);
  }
  if (!run.parent_run_id().empty()) {
    add("parent", absl::StrCat(run.parent_run_id(), " (root ", run.root_run_id().empty() ? "?" : run.root_run_id(),
                               ", depth ", run.depth(), ")"));
  }
  if (std::string node = NodeRunLabel(run); !node.empty()) add("graph node", node);
  if (!run.session_id().empty()) {
    add("session", run.session_seq() > 0 ? absl::StrCat(run.session_id(), " #", run.session_seq()) : run.session_id());
  }
  if (!run.continue_from().empty()) add("continues", run.continue_from());
  if (!run.forked_from().empty()) {
    add("forked", absl::StrCat("from ", run.forked_from(), " at journal seq ", run.forked_at_seq()));
  }
  if (!run.waits().empty()) {
    bool first = true;
    for (const v1::Wait& wait : run.waits()) {
      add(first ? "waits for" : "", FormatWait(wait, run, now_ms));
      first = false;
    }
  }
  if (!graph) add("steps", absl::StrCat(run.steps()));  // a graph run takes none itself
  add("usage", FormatUsage(run.usage()));
  if (run.children() > 0) {
    add("children", absl::StrCat(run.children(), " (baton ls --parent ", run.run_id(), ")"));
    add("tree usage", FormatUsage(run.tree_usage()));
  }
  if (!run.error().empty() || run.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
    std::string error;
    if (run.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
      error = absl::StrCat("[", FailureKindName(run.failure_kind()), "] ");
    }
    add("error", error + run.error());
  }
  std::string out = FormatTable(rows);
  if (!run.output().empty()) {
    absl::StrAppend(&out, "output:\n", run.output());
    if (run.output().back() != '\n') out += '\n';
  }
  return out;
}

std::string FormatRunTable(const std::vector<v1::Run>& runs, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {
      {"RUN ID", "STATE", "AGENT", "STEPS", "AGE", "INPUT"}};
  for (const v1::Run& run : runs) {
    std::string agent = run.agent().name().empty() ? "(inline)" : run.agent().name();
    if (run.has_graph()) agent = absl::StrCat("graph ", run.graph().name().empty() ? "(inline)" : run.graph().name());
    rows.push_back({run.run_id(), StateName(run.state()), agent, absl::StrCat(run.steps()),
                    Age(run.create_time_ms(), now_ms), Preview(run.input(), 48)});
  }
  return FormatTable(rows);
}

std::string FormatDecision(const v1::ApprovalDecision& decision) {
  std::string out = DecisionName(decision.decision());
  if (decision.timed_out()) {
    absl::StrAppend(&out, " (timed out)");
  } else if (!decision.decided_by().empty()) {
    absl::StrAppend(&out, " by ", decision.decided_by());
  }
  if (!decision.input_json().empty() && decision.input_json() != "{}") {
    absl::StrAppend(&out, ": ", Preview(decision.input_json(), 80));
  } else if (!decision.message().empty()) {
    absl::StrAppend(&out, ": ", Preview(decision.message(), 80));
  }
  return out;
}

std::string ApprovalHint(const v1::Approval& approval) {
  const std::string& id = approval.approval_id();
  const std::vector<v1::Decision> allowed = AllowedDecisions(approval);
  std::vector<std::string> hints;
  if (IsInputRequest(approval)) {
    if (Allows(allowed, v1::ACCEPT)) {
      hints.push_back(absl::StrCat("baton approve ", id, NeedsContent(approval) ? " --content JSON" : ""));
    }
    if (Allows(allowed, v1::DECLINE)) hints.push_back(absl::StrCat("baton deny ", id));
  } else if (IsGraphQuestion(approval)) {
    // A person's answer is the node's output: each allowed decision is its own answer.
    if (Allows(allowed, v1::APPROVE)) hints.push_back(absl::StrCat("baton approve ", id));
    if (Allows(allowed, v1::DENY)) hints.push_back(absl::StrCat("baton deny ", id));
    if (Allows(allowed, v1::RESPOND)) hints.push_back(absl::StrCat("baton respond ", id, " --message …"));
  } else {
    if (Allows(allowed, v1::APPROVE)) {
      hints.push_back(absl::StrCat("baton approve ", id));
    } else if (Allows(allowed, v1::EDIT)) {
      hints.push_back(absl::StrCat("baton approve ", id, " --edit JSON"));
    }
    if (Allows(allowed, v1::DENY)) {
      hints.push_back(absl::StrCat("baton deny ", id, " --message …"));
    } else if (Allows(allowed, v1::RESPOND)) {
      hints.push_back(absl::StrCat("baton respond ", id, " --message …"));
    }
  }
  return absl::StrJoin(hints, " | ");
}

std::string FormatApprovalTable(const std::vector<v1::Approval>& approvals, int64_t now_ms) {
  std::vector<std::vector<std::string>> rows = {{"ID", "RUN", "TOOL", "INPUT", "STATE", "EXPIRES / DECISION"}};
  for (const v1::Approval& approval : approvals) {
    std::string when;
    switch (approval.state()) {
      case v1::Approval::PENDING:
        when = TimeLeft(approval.expire_time_ms(), now_ms);
        break;
      case v1::Approval::DECIDED:
      case v1::Approval::EXPIRED:
        when = FormatDecision(approval.decision());
        break;
      case v1::Approval::ABANDONED:
        when = "- (the run ended)";
        break;
      default:
        when = "-";
        break;
    }
    // An input request has no tool input: its message says what the server asks; a
    // graph's human node asks its prompt.
    const bool input_request = IsInputRequest(approval);
    const bool question = IsGraphQuestion(approval);
    std::string input = input_request || question
                            ? Preview(approval.message(), 40)
                            : Preview(approval.input_json().empty() ? "{}" : approval.input_json(), 40);
    std::string tool = input_request ? "input request" : question ? "node " + approval.tool() : approval.tool();
    rows.push_back({approval.approval_id(), approval.run_id(), std::move(tool), std::move(input),
                    ApprovalStateName(approval.state()), std::move(when)});
  }
  return FormatTable(rows);
}

std::string FormatApproval(const v1::Approval& approval) {
  std::string out = absl::StrCat("approval ", approval.approval_id(), ": ");
  if (approval.has_decision() && approval.decision().decision() != v1::DECISION_UNSPECIFIED) {
    absl::StrAppend(&out, FormatDecision(approval.decision()));
    if (approval.state() != v1::Approval::DECIDED) absl::StrAppend(&out, " [", ApprovalStateName(approval.state()), "]");
  } else {
    absl::StrAppend(&out, ApprovalStateName(approval.state()));
  }
  std::string what = IsInputRequest(approval)    ? "input request"
                     : IsGraphQuestion(approval) ? absl::StrCat("node ", approval.tool())
                                                 : absl::StrCat("tool ", approval.tool());
  absl::StrAppend(&out, " (", what, approval.run_id().empty() ? "" : absl::StrCat(" on ", approval.run_id()), ")\n");
  return out;
}

std::string FormatAgent(const v1::AgentSpec& agent) { return ToPrettyJson(agent); }

std::string FormatAgentTable(const std::vector<v1::AgentSpec>& agents) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "MODEL", "TOOLS", "DESCRIPTION"}};
  for (const v1::AgentSpec& agent : agents) {
    std::string tools = agent.allowed_tools().empty() ? "-" : absl::StrJoin(agent.allowed_tools(), ",");
    rows.push_back({agent.name(), absl::StrCat(agent.version()), agent.model(), Preview(tools, 40),
                    Preview(agent.description(), 60)});
  }
  return FormatTable(rows);
}

std::string FormatTranscript(const v1::Transcript& transcript) {
  return TranscriptPrinter(transcript).Print();
}

std::string ToJsonLine(const google::protobuf::Message& message) { return MessageToJsonLine(message); }

std::string ToPrettyJson(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

std::string FormatTable(const std::vector<std::vector<std::string>>& rows) {
  std::vector<size_t> widths;
  for (const auto& row : rows) {
    if (widths.size() < row.size()) widths.resize(row.size(), 0);
    for (size_t i = 0; i < row.size(); ++i) widths[i] = std::max(widths[i], row[i].size());
  }
  std::string out;
  for (const auto& row : rows) {
    std::string line;
    for (size_t i = 0; i < row.size(); ++i) {
      line += row[i];
      if (i + 1 < row.size()) line += std::string(widths[i] - row[i].size() + 2, ' ');
    }
    while (!line.empty() && line.back() == ' ') line.pop_back();
    absl::StrAppend(&out, line, "\n");
  }
  return out;
}

}  // namespace baton::cli
