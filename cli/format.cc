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

// Columns separated by two spaces; the last column is not padded.
std::string Table(const std::vector<std::vector<std::string>>& rows) {
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

// Cuts long multi-line text (tool results in a transcript), keeping the lines.
std::string Truncate(const std::string& text, size_t max_chars) {
  if (text.size() <= max_chars) return text;
  size_t cut = max_chars;
  while (cut > 0 && (static_cast<unsigned char>(text[cut]) & 0xC0) == 0x80) --cut;
  return absl::StrCat(text.substr(0, cut), "\n... (", WithCommas(text.size() - cut), " more bytes)");
}

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
    case v1::RunEvent::EVENT_NOT_SET:
      break;
  }
  return "";
}

std::string FormatRun(const v1::Run& run, absl::TimeZone tz) {
  std::vector<std::vector<std::string>> rows;
  auto add = [&rows](std::string key, std::string value) {
    rows.push_back({std::move(key), std::move(value)});
  };
  add("run", run.run_id());
  std::string state = StateName(run.state());
  if (run.cancel_requested() && !IsTerminal(run.state())) state += " (cancel requested)";
  add("state", state);
  const v1::AgentSpec& agent = run.agent();
  std::string agent_line = agent.name().empty() ? "(inline)" : agent.name();
  if (agent.version() > 0) absl::StrAppend(&agent_line, " v", agent.version());
  if (!agent.model().empty()) absl::StrAppend(&agent_line, ", model ", agent.model());
  add("agent", agent_line);
  add("input", Preview(run.input(), 200));
  if (run.priority() != 0) add("priority", absl::StrCat(run.priority()));
  if (run.attempt() > 0) add("attempt", absl::StrCat(run.attempt(), " (epoch ", run.epoch(), ")"));
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
  add("steps", absl::StrCat(run.steps()));
  add("usage", FormatUsage(run.usage()));
  if (!run.error().empty() || run.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
    std::string error;
    if (run.failure_kind() != v1::FAILURE_KIND_UNSPECIFIED) {
      error = absl::StrCat("[", FailureKindName(run.failure_kind()), "] ");
    }
    add("error", error + run.error());
  }
  std::string out = Table(rows);
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
    rows.push_back({run.run_id(), StateName(run.state()), agent, absl::StrCat(run.steps()),
                    Age(run.create_time_ms(), now_ms), Preview(run.input(), 48)});
  }
  return Table(rows);
}

std::string FormatAgent(const v1::AgentSpec& agent) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = true;
  (void)google::protobuf::util::MessageToJsonString(agent, &json, options);
  if (json.empty() || json.back() != '\n') json += '\n';
  return json;
}

std::string FormatAgentTable(const std::vector<v1::AgentSpec>& agents) {
  std::vector<std::vector<std::string>> rows = {{"NAME", "VERSION", "MODEL", "TOOLS", "DESCRIPTION"}};
  for (const v1::AgentSpec& agent : agents) {
    std::string tools = agent.allowed_tools().empty() ? "-" : absl::StrJoin(agent.allowed_tools(), ",");
    rows.push_back({agent.name(), absl::StrCat(agent.version()), agent.model(), Preview(tools, 40),
                    Preview(agent.description(), 60)});
  }
  return Table(rows);
}

std::string FormatTranscript(const v1::Transcript& transcript) {
  constexpr size_t kMaxResultChars = 4000;
  std::set<std::string> answered;     // tool_use ids with a recorded result
  std::set<std::string> in_turns;     // tool_use ids shown as part of a model turn
  std::map<std::string, std::string> tool_names;
  for (const v1::JournalEntry& entry : transcript.entries()) {
    if (entry.has_tool_result()) answered.insert(entry.tool_result().tool_use_id());
    if (entry.has_tool_call()) tool_names[entry.tool_call().tool_use_id()] = entry.tool_call().name();
  }

  std::string out = absl::StrCat("transcript of ", transcript.run_id(), "\n\nuser:\n");
  absl::StrAppend(&out, Indent(transcript.input(), "  "));
  for (const v1::JournalEntry& entry : transcript.entries()) {
    switch (entry.entry_case()) {
      case v1::JournalEntry::kModelTurn: {
        const v1::ModelTurn& turn = entry.model_turn();
        absl::StrAppend(&out, "\nstep ", entry.step(), " · ", turn.model().empty() ? "?" : turn.model());
        if (!turn.model_rule().empty()) absl::StrAppend(&out, " (", turn.model_rule(), ")");
        if (turn.discarded()) absl::StrAppend(&out, " · discarded, retried after compaction");
        if (!turn.stop_reason().empty()) absl::StrAppend(&out, " · ", turn.stop_reason());
        if (turn.has_usage()) absl::StrAppend(&out, " · ", Tokens(turn.usage()));
        absl::StrAppend(&out, "\nassistant:\n");
        auto blocks = nlohmann::json::parse(turn.content_json(), nullptr, false);
        if (blocks.is_discarded() || !blocks.is_array()) {
          absl::StrAppend(&out, Indent(turn.content_json(), "  "));
          break;
        }
        for (const auto& block : blocks) {
          std::string type = block.is_object() ? block.value("type", "") : "";
          if (type == "text") {
            absl::StrAppend(&out, Indent(block.value("text", ""), "  "));
          } else if (type == "tool_use") {
            std::string id = block.value("id", "");
            std::string name = block.value("name", "");
            in_turns.insert(id);
            tool_names.emplace(id, name);
            std::string input = block.contains("input") ? block["input"].dump() : "{}";
            absl::StrAppend(&out, "  -> ", name, " ", Preview(input, 2000), "  [", id, "]\n");
          } else if (type == "thinking") {
            absl::StrAppend(&out, "  (thinking)\n");
          } else {
            absl::StrAppend(&out, "  [", type.empty() ? "block" : type, "]\n");
          }
        }
        break;
      }
      case v1::JournalEntry::kToolCall: {
        const v1::ToolCall& call = entry.tool_call();
        if (!in_turns.count(call.tool_use_id())) {
          absl::StrAppend(&out, "  -> ", call.name(), " ", Preview(call.input_json(), 2000), "  [",
                          call.tool_use_id(), "]\n");
        }
        if (!answered.count(call.tool_use_id())) {
          absl::StrAppend(&out, "tool ", call.name(), " [", call.tool_use_id(),
                          "]: started, no result recorded\n");
        }
        break;
      }
      case v1::JournalEntry::kToolResult: {
        const v1::ToolResult& result = entry.tool_result();
        auto name = tool_names.find(result.tool_use_id());
        absl::StrAppend(&out, "tool ", name == tool_names.end() ? "?" : name->second, " [",
                        result.tool_use_id(), "]", result.is_error() ? " ERROR" : "", " (",
                        FormatDuration(result.duration_ms()), "):\n");
        absl::StrAppend(&out, Indent(Truncate(ContentJsonText(result.content_json()), kMaxResultChars), "  "));
        break;
      }
      case v1::JournalEntry::kSummary: {
        const v1::ContextSummary& summary = entry.summary();
        absl::StrAppend(&out, "\ncontext compacted before step ", entry.step(), " · steps 0-",
                        summary.through_step(), " summarized by ", summary.model().empty() ? "?" : summary.model(),
                        " · ", WithCommas(summary.tokens_before()), " -> ", WithCommas(summary.tokens_after()),
                        " tokens · ", summary.reason(), "\nsummary:\n");
        absl::StrAppend(&out, Indent(summary.text(), "  "));
        break;
      }
      case v1::JournalEntry::ENTRY_NOT_SET:
        break;
    }
  }
  absl::StrAppend(&out, "\nusage: ", FormatUsage(transcript.usage()), "\n");
  return out;
}

std::string ToJsonLine(const google::protobuf::Message& message) {
  std::string json;
  google::protobuf::util::JsonPrintOptions options;
  options.add_whitespace = false;
  (void)google::protobuf::util::MessageToJsonString(message, &json, options);
  return json;
}

}  // namespace baton::cli
