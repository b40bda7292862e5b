#include "workers/request_builder.h"

#include <string>
#include <string_view>
#include <utility>

#include "absl/strings/str_cat.h"
#include "workers/prompt_cache.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

int BreakpointsOf(const json& message) {
  return message.is_object() && message.contains("content") ? CountCacheBreakpointsIn(message["content"]) : 0;
}

// `value` serialized with a breakpoint `mark` placed; "" when `mark` places none.
template <typename Mark>
std::string Marked(json value, const json& cc, Mark mark) {
  return mark(value, cc) ? SerializeJson(value) : std::string();
}

}  // namespace

bool TrimFinalAssistantText(json& message) {
  if (!message.is_object() || message.value("role", "") != "assistant") return false;
  json& content = message["content"];
  if (!content.is_array() || content.empty() || !content.back().is_object() ||
      content.back().value("type", "") != "text" || !content.back()["text"].is_string()) {
    return false;
  }
  std::string text = content.back()["text"].get<std::string>();
  const size_t size = text.size();
  while (!text.empty() && (text.back() == ' ' || text.back() == '\n' || text.back() == '\t' || text.back() == '\r')) {
    text.pop_back();
  }
  if (text.empty()) {
    content.erase(content.size() - 1);
    return true;
  }
  if (text.size() == size) return false;
  content.back()["text"] = text;
  return true;
}

RequestBuilder::RequestBuilder(const RequestParts& parts)
    : caching_(parts.prompt_caching),
      cc_(CacheControl(parts.cache_ttl)),
      max_tokens_(parts.max_tokens),
      max_tokens_json_(std::to_string(parts.max_tokens)),
      has_system_(!parts.system.empty()),
      has_tools_(!parts.tools.empty()),
      has_temperature_(!parts.temperature.is_null()),
      temperature_json_(has_temperature_ ? SerializeJson(parts.temperature) : std::string()) {
  // Made for every run, so spelled out where that is short: the system prompt (a
  // string, so no breakpoints of its own) as MarkSystem marks it, one text block whose
  // keys come in the order SerializeJson writes them.
  if (has_system_) {
    system_json_[0] = SerializeJson(json(parts.system));
    system_json_[1] = absl::StrCat("[{\"cache_control\":", SerializeJson(cc_), ",\"text\":", system_json_[0],
                                   ",\"type\":\"text\"}]");
  }
  if (has_tools_) {
    tools_json_[0] = SerializeJson(parts.tools);
    tools_json_[1] = Marked(parts.tools, cc_, MarkTools);
    fixed_breakpoints_ += CountCacheBreakpointsIn(parts.tools);
  }
}

void RequestBuilder::Reset() {
  kept_.clear();
  ends_.clear();
  kept_breakpoints_ = 0;
  marked_last_ = 0;
}

void RequestBuilder::Keep(const json& messages, size_t count) {
  for (size_t i = ends_.size(); i < count; ++i) {
    if (i > 0) kept_ += ',';
    kept_ += SerializeJson(messages[i]);
    ends_.push_back(kept_.size());
    kept_breakpoints_ += BreakpointsOf(messages[i]);
  }
}

SerializedRequest RequestBuilder::Build(const json& messages, const std::string& model, size_t previous_messages) {
  const size_t n = messages.is_array() ? messages.size() : 0;
  // Every message but the last is kept; fewer than kept means another conversation.
  if (ends_.size() + 1 > n && !ends_.empty()) Reset();
  if (n > 0) Keep(messages, n - 1);
  // What the previous Build sent last, as sent: the same bytes as marking it again.
  const size_t marked_last = std::exchange(marked_last_, 0);

  // The edits, in the order AddCacheBreakpoints places breakpoints.
  json last = n > 0 ? messages[n - 1] : json();
  const bool trimmed = TrimFinalAssistantText(last);
  int left = kMaxCacheBreakpoints - fixed_breakpoints_ - kept_breakpoints_ - BreakpointsOf(last);
  bool mark_system = false, mark_tools = false;
  bool last_marked = false;
  size_t previous = 0;  // 1 + the index of the kept message sent with a breakpoint
  if (caching_) {
    if (left > 0 && n > 0 && MarkMessage(last, cc_)) {
      --left;
      last_marked = true;
    }
    if (left > 0 && n > 0 && previous_messages > 0 && previous_messages < n) {
      if (previous_messages == marked_last) {
        previous_json_ = std::move(last_json_);
      } else {
        previous_json_ = Marked(messages[previous_messages - 1], cc_, MarkMessage);
      }
      if (!previous_json_.empty()) {
        previous = previous_messages;
        --left;
      }
    }
    if (left > 0 && has_system_ && !system_json_[1].empty()) {
      mark_system = true;
      --left;
    }
    if (left > 0 && has_tools_ && !tools_json_[1].empty()) {
      mark_tools = true;
      --left;
    }
  }
  last_json_ = n > 0 ? SerializeJson(last) : std::string();
  // Untrimmed, it is what Marked(messages[n - 1]) gives the next Build.
  if (last_marked && !trimmed) marked_last_ = n;

  std::vector<std::string_view> body{"["};
  const std::string_view kept(kept_);
  if (previous > 0) {
    const size_t index = previous - 1;
    const size_t start = index == 0 ? 0 : ends_[index - 1] + 1;
    body.push_back(kept.substr(0, start));
    body.push_back(previous_json_);
    body.push_back(kept.substr(ends_[index]));
  } else if (!kept.empty()) {
    body.push_back(kept);
  }
  if (n > 1) body.push_back(",");
  if (n > 0) body.push_back(last_json_);
  body.push_back("]");

  SerializedRequest request;
  request.max_tokens = max_tokens_;
  request.members.push_back({"max_tokens", {max_tokens_json_}});
  request.members.push_back({"messages", std::move(body)});
  request.members.push_back({"model", {}});
  if (has_system_) request.members.push_back({"system", {system_json_[mark_system ? 1 : 0]}});
  if (has_temperature_) request.members.push_back({"temperature", {temperature_json_}});
  if (has_tools_) request.members.push_back({"tools", {tools_json_[mark_tools ? 1 : 0]}});
  SetModel(model, &request);
  return request;
}

void RequestBuilder::SetModel(const std::string& model, SerializedRequest* request) {
  model_json_ = SerializeJson(json(model));
  request->model = model;
  for (SerializedRequest::Member& m : request->members) {
    if (m.key == "model") m.value = {model_json_};
  }
}

}  // namespace baton::worker
