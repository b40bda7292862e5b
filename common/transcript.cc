#include "common/transcript.h"

#include "absl/strings/str_cat.h"

namespace baton {
namespace {

nlohmann::json ParseOrNull(const std::string& text) {
  return nlohmann::json::parse(text, nullptr, false);
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
    if (block.is_object() && block.value("type", "") == "text" && block.contains("text") &&
        block["text"].is_string()) {
      if (!text.empty()) text += "\n";
      text += block["text"].get<std::string>();
    }
  }
  return text;
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

absl::StatusOr<RebuiltConversation> RebuildConversation(
    const std::string& input, const std::vector<v1::JournalEntry>& journal) {
  RebuiltConversation conv;
  conv.messages.push_back({{"role", "user"}, {"content", input}});
  // Tool results of the current step, in arrival order, keyed for ordering below.
  nlohmann::json results = nlohmann::json::array();
  auto flush_step = [&]() {
    if (conv.pending.empty() && results.empty()) return;
    // Results must follow the assistant turn in the order of its tool_use blocks.
    nlohmann::json ordered = nlohmann::json::array();
    for (const auto& r : results) ordered.push_back(r);
    if (!ordered.empty()) conv.messages.push_back({{"role", "user"}, {"content", ordered}});
    results = nlohmann::json::array();
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
          if (block.is_object() && block.value("type", "") == "tool_use") {
            conv.pending.push_back(PendingToolCall{block.value("id", ""), block.value("name", ""),
                                                   block.value("input", nlohmann::json::object()),
                                                   false});
          }
        }
        break;
      }
      case v1::JournalEntry::kToolCall:
        for (auto& p : conv.pending) {
          if (p.tool_use_id == entry.tool_call().tool_use_id()) p.started = true;
        }
        break;
      case v1::JournalEntry::kToolResult: {
        const v1::ToolResult& r = entry.tool_result();
        nlohmann::json content = ParseOrNull(r.content_json());
        if (content.is_discarded()) {
          return absl::DataLossError(
              absl::StrCat("journal entry ", entry.seq(), ": tool result content is not JSON"));
        }
        nlohmann::json block = {{"type", "tool_result"}, {"tool_use_id", r.tool_use_id()},
                                {"content", content}};
        if (r.is_error()) block["is_error"] = true;
        results.push_back(std::move(block));
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
      case v1::JournalEntry::ENTRY_NOT_SET:
        break;
    }
  }
  // Results recorded for a step whose other calls are still pending stay unflushed
  // in `results`: put them in the conversation so the caller appends the rest.
  if (!results.empty()) conv.messages.push_back({{"role", "user"}, {"content", results}});
  return conv;
}

}  // namespace baton
