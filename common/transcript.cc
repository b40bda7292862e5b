#include "common/transcript.h"

#include <algorithm>
#include <iterator>

#include "absl/strings/str_cat.h"
#include "common/json_codec.h"

namespace baton {
namespace {

nlohmann::json ParseOrNull(const std::string& text) { return ParseJson(text); }

// The string field `key` of `block`, or "" when it is missing or not a string. The
// journal's JSON came from outside (a model, a tool, a worker): value(key, "") would
// throw for `{"type": 1}` and take the orchestrator's GetTranscript or a resuming
// worker down with it (found with tests/fuzz/journal_fuzz.cc).
std::string StringField(const nlohmann::json& block, const char* key) {
  auto it = block.find(key);
  return it != block.end() && it->is_string() ? it->get<std::string>() : std::string();
}

}  // namespace

void AddUsage(const v1::Usage& step, v1::Usage* total) {
  total->set_input_tokens(total->input_tokens() + step.input_tokens());
  total->set_output_tokens(total->output_tokens() + step.output_tokens());
  total->set_cache_creation_input_tokens(total->cache_creation_input_tokens() +
                                         step.cache_creation_input_tokens());
  total->set_cache_read_input_tokens(total->cache_read_input_tokens() +
                                     step.cache_read_input_tokens());
  total->set_model_calls(total->model_calls() + step.model_calls());
  total->set_tool_calls(total->tool_calls() + step.tool_calls());
  total->set_cache_creation_1h_input_tokens(total->cache_creation_1h_input_tokens() +
                                            step.cache_creation_1h_input_tokens());
  total->set_cost_usd(total->cost_usd() + step.cost_usd());
}

std::string TextOfContent(const nlohmann::json& content) {
  std::string text;
  if (content.is_string()) return content.get<std::string>();
  if (!content.is_array()) return text;
  for (const auto& block : content) {
    if (block.is_object() && StringField(block, "type") == "text" && block.contains("text") &&
        block["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += block["text"].get<std::string>();
    }
  }
  return text;
}

ContentScan ScanContentJson(std::string_view json) {
  if (std::optional<ContentTextScan> fast = ScanContentTextFast(json)) {
    return ContentScan{true, fast->is_array, std::move(fast->text)};
  }
  // Invalid, or beyond the fast reader (floats, deep nesting): nlohmann decides, and
  // the text is TextOfContent's.
  const nlohmann::json parsed = nlohmann::json::parse(json.begin(), json.end(), nullptr, /*allow_exceptions=*/false);
  if (parsed.is_discarded()) return ContentScan{};
  return ContentScan{true, parsed.is_array(), TextOfContent(parsed)};
}

nlohmann::json ToolResultBlock(const std::string& tool_use_id, nlohmann::json content, bool is_error) {
  nlohmann::json block = {{"type", "tool_result"}, {"tool_use_id", tool_use_id}, {"content", std::move(content)}};
  if (is_error) block["is_error"] = true;
  return block;
}

std::string SummarizedInput(const std::string& input, const std::string& summary) {
  return absl::StrCat(input,
                      "\n\n<conversation_summary>\nThe earlier part of this conversation was compacted into "
                      "this summary:\n",
                      summary, "\n</conversation_summary>");
}

void ApplySummary(const std::string& input, const v1::ContextSummary& summary, RebuiltConversation* conv) {
  // The kept part starts at the first assistant turn after through_step.
  size_t start = conv->messages.size();
  for (const auto& [step, index] : conv->turn_message_index) {
    if (step > summary.through_step()) {
      start = index;
      break;
    }
  }
  if (start < 1) start = 1;
  nlohmann::json messages = nlohmann::json::array();
  messages.push_back({{"role", "user"}, {"content", SummarizedInput(input, summary.text())}});
  for (size_t i = start; i < conv->messages.size(); ++i) messages.push_back(std::move(conv->messages[i]));
  conv->messages = std::move(messages);
  std::map<int, size_t> index;
  for (const auto& [step, i] : conv->turn_message_index) {
    if (step > summary.through_step() && i >= start) index[step] = i - start + 1;
  }
  conv->turn_message_index = std::move(index);
  conv->summarized_through_step = summary.through_step();
  conv->needs_compaction = false;
  AddUsage(summary.usage(), &conv->usage);
}

void OrderToolResults(const nlohmann::json& assistant_content, nlohmann::json* results) {
  if (!assistant_content.is_array() || !results->is_array() || results->size() < 2) return;
  std::map<std::string, size_t> position;
  for (const auto& block : assistant_content) {
    if (block.is_object() && StringField(block, "type") == "tool_use") {
      position.emplace(StringField(block, "id"), position.size());
    }
  }
  auto rank = [&](const nlohmann::json& block) {
    if (!block.is_object() || StringField(block, "type") != "tool_result") return position.size();
    auto it = position.find(StringField(block, "tool_use_id"));
    return it == position.end() ? position.size() : it->second;
  };
  std::vector<nlohmann::json> blocks(std::make_move_iterator(results->begin()),
                                    std::make_move_iterator(results->end()));
  std::stable_sort(blocks.begin(), blocks.end(),
                   [&](const nlohmann::json& a, const nlohmann::json& b) { return rank(a) < rank(b); });
  *results = nlohmann::json(std::move(blocks));
}

absl::StatusOr<RebuiltConversation> RebuildConversation(
    const std::string& input, const std::vector<v1::JournalEntry>& journal, nlohmann::json prior) {
  RebuiltConversation conv;
  if (prior.is_array()) conv.messages = std::move(prior);
  conv.messages.push_back({{"role", "user"}, {"content", input}});
  // The current step's assistant content and its tool results, in arrival order (the
  // orchestrator journals a child's result whenever the child ends).
  nlohmann::json step_content = nlohmann::json::array();
  nlohmann::json results = nlohmann::json::array();
  auto flush_step = [&]() {
    if (results.empty()) return;
    OrderToolResults(step_content, &results);
    conv.messages.push_back({{"role", "user"}, {"content", std::move(results)}});
    results = nlohmann::json::array();
  };
  auto find_pending = [&](const std::string& tool_use_id) -> PendingToolCall* {
    for (PendingToolCall& p : conv.pending) {
      if (p.tool_use_id == tool_use_id) return &p;
    }
    return nullptr;
  };
  for (const v1::JournalEntry& entry : journal) {
    switch (entry.entry_case()) {
      case v1::JournalEntry::kModelTurn: {
        if (!conv.pending.empty()) {
          return absl::DataLossError(absl::StrCat("journal entry ", entry.seq(),
                                                  ": model turn before every tool result of step ",
                                                  conv.steps - 1, " was recorded"));
        }
        flush_step();
        nlohmann::json content = ParseOrNull(entry.model_turn().content_json());
        if (content.is_discarded() || !content.is_array()) {
          return absl::DataLossError(
              absl::StrCat("journal entry ", entry.seq(), ": model turn content is not a JSON array"));
        }
        conv.steps++;
        AddUsage(entry.model_turn().usage(), &conv.usage);
        if (entry.model_turn().discarded()) {
          // Not part of the conversation: compacted and retried.
          conv.needs_compaction = true;
          break;
        }
        conv.needs_compaction = false;
        conv.turn_message_index[entry.step()] = conv.messages.size();
        conv.messages.push_back({{"role", "assistant"}, {"content", content}});
        // A turn cut by max_tokens or paused goes on in the next one: one answer.
        const bool continues = conv.last_stop_reason == "max_tokens" || conv.last_stop_reason == "pause_turn";
        conv.last_stop_reason = entry.model_turn().stop_reason();
        conv.last_text = continues ? conv.last_text + TextOfContent(content) : TextOfContent(content);
        for (const auto& block : content) {
          if (block.is_object() && StringField(block, "type") == "tool_use") {
            PendingToolCall call;
            call.tool_use_id = StringField(block, "id");
            call.name = StringField(block, "name");
            call.input = block.value("input", nlohmann::json::object());
            conv.pending.push_back(std::move(call));
          }
        }
        step_content = std::move(content);
        break;
      }
      case v1::JournalEntry::kToolCall:
        if (PendingToolCall* p = find_pending(entry.tool_call().tool_use_id())) {
          p->started = true;
          if (!entry.tool_call().child_run_id().empty()) p->child_run_id = entry.tool_call().child_run_id();
        }
        break;
      case v1::JournalEntry::kApprovalRequest:
        if (PendingToolCall* p = find_pending(entry.approval_request().tool_use_id())) {
          p->approval_request = entry.approval_request();
        }
        break;
      case v1::JournalEntry::kApprovalDecision: {
        const v1::ApprovalDecision& decision = entry.approval_decision();
        if (decision.decision() == v1::EDIT) {
          nlohmann::json edited = ParseOrNull(decision.input_json());
          if (edited.is_discarded() || !edited.is_object()) {
            return absl::DataLossError(
                absl::StrCat("journal entry ", entry.seq(), ": the edited input is not a JSON object"));
          }
        }
        if (PendingToolCall* p = find_pending(decision.tool_use_id())) p->approval_decision = decision;
        break;
      }
      case v1::JournalEntry::kToolResult: {
        const v1::ToolResult& r = entry.tool_result();
        nlohmann::json content = ParseOrNull(r.content_json());
        if (content.is_discarded()) {
          return absl::DataLossError(
              absl::StrCat("journal entry ", entry.seq(), ": tool result content is not JSON"));
        }
        results.push_back(ToolResultBlock(r.tool_use_id(), std::move(content), r.is_error()));
        for (auto it = conv.pending.begin(); it != conv.pending.end(); ++it) {
          if (it->tool_use_id == r.tool_use_id()) {
            conv.pending.erase(it);
            break;
          }
        }
        conv.usage.set_tool_calls(conv.usage.tool_calls() + 1);
        break;
      }
      case v1::JournalEntry::kSummary:
        if (!conv.pending.empty()) {
          return absl::DataLossError(absl::StrCat("journal entry ", entry.seq(),
                                                  ": summary while tool calls of step ", conv.steps - 1,
                                                  " are pending"));
        }
        flush_step();
        ApplySummary(input, entry.summary(), &conv);
        break;
      case v1::JournalEntry::kNodeStarted:
      case v1::JournalEntry::kNodeFinished:
        break;  // graph runs: no conversation of their own
      case v1::JournalEntry::ENTRY_NOT_SET:
        break;
    }
  }
  // Results recorded for a step whose other calls are still pending: in the
  // conversation too, so the caller adds the rest to the same user turn.
  flush_step();
  return conv;
}

namespace {

template <typename Runs>
absl::StatusOr<nlohmann::json> HistoryMessagesOf(const Runs& history) {
  nlohmann::json messages = nlohmann::json::array();
  for (const v1::PriorRun& prior : history) {
    absl::StatusOr<RebuiltConversation> conv = RebuildConversation(
        prior.input(), std::vector<v1::JournalEntry>(prior.journal().begin(), prior.journal().end()),
        std::move(messages));
    if (!conv.ok()) {
      return absl::Status(conv.status().code(),
                          absl::StrCat("run ", prior.run_id(), " of the history: ", conv.status().message()));
    }
    if (!conv->pending.empty()) {
      if (StringField(conv->messages.back(), "role") != "user") {
        conv->messages.push_back({{"role", "user"}, {"content", nlohmann::json::array()}});
      }
      nlohmann::json& content = conv->messages.back()["content"];
      for (const PendingToolCall& call : conv->pending) {
        content.push_back(ToolResultBlock(
            call.tool_use_id,
            absl::StrCat("Error: run ", prior.run_id(), " ended before this call of \"", call.name, "\" returned."),
            true));
      }
      OrderToolResults(conv->messages[conv->messages.size() - 2]["content"], &content);
    }
    messages = std::move(conv->messages);
  }
  return messages;
}

}  // namespace

absl::StatusOr<nlohmann::json> HistoryMessages(const google::protobuf::RepeatedPtrField<v1::PriorRun>& history) {
  return HistoryMessagesOf(history);
}

absl::StatusOr<nlohmann::json> HistoryMessages(const std::vector<v1::PriorRun>& history) {
  return HistoryMessagesOf(history);
}

}  // namespace baton
