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
      stream_(parts.stream),
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
  body_ = absl::StrCat("{\"max_tokens\":", max_tokens_json_, ",\"messages\":[");
  messages_begin_ = body_.size() - 1;
}

void RequestBuilder::Reset() {
  body_.resize(messages_begin_ + 1);
  ends_.clear();
  kept_breakpoints_ = 0;
  spliced_at_ = kNone;
  spliced_.clear();
  marked_last_ = 0;
}

void RequestBuilder::Restore() {
  if (spliced_at_ != kNone) {
    body_.resize(spliced_at_);
    body_ += spliced_;
    spliced_at_ = kNone;
  }
  body_.resize(ends_.empty() ? messages_begin_ + 1 : ends_.back());
}

void RequestBuilder::Keep(const json& messages, size_t count) {
  for (size_t i = ends_.size(); i < count; ++i) {
    if (i > 0) body_ += ',';
    body_ += SerializeJson(messages[i]);
    ends_.push_back(body_.size());
    kept_breakpoints_ += BreakpointsOf(messages[i]);
  }
}

SerializedRequest RequestBuilder::Build(const json& messages, const std::string& model, size_t previous_messages) {
  const size_t n = messages.is_array() ? messages.size() : 0;
  Restore();
  // Every message but the last is kept; fewer than kept means another conversation.
  if (ends_.size() + 1 > n && !ends_.empty()) Reset();
  if (n > 0) Keep(messages, n - 1);
  // What the previous Build sent last, as sent: the same bytes as marking it again.
  const size_t marked_last = std::exchange(marked_last_, 0);

  // The edits, in the order AddCacheBreakpoints places breakpoints.
  json last = n > 0 ? messages[n - 1] : json();
  const bool trimmed = TrimFinalAssistantText(last);
  int left = kMaxCacheBreakpoints - fixed_breakpoints_ - kept_breakpoints_ - BreakpointsOf(last);
  mark_system_ = false;
  mark_tools_ = false;
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
      mark_system_ = true;
      --left;
    }
    if (left > 0 && has_tools_ && !tools_json_[1].empty()) {
      mark_tools_ = true;
      --left;
    }
  }
  last_json_ = n > 0 ? SerializeJson(last) : std::string();
  // Untrimmed, it is what Marked(messages[n - 1]) gives the next Build.
  if (last_marked && !trimmed) marked_last_ = n;

  // The kept message sent with a breakpoint, spliced in: the kept bytes from its start
  // are set aside for Restore, and it and the messages after it written as sent.
  if (previous > 0) {
    const size_t index = previous - 1;
    spliced_at_ = index == 0 ? messages_begin_ + 1 : ends_[index - 1] + 1;
    spliced_.assign(body_, spliced_at_);
    body_.resize(spliced_at_);
    body_ += previous_json_;
    body_.append(spliced_, ends_[index] - spliced_at_);
  }
  if (n > 1) body_ += ',';
  if (n > 0) body_ += last_json_;
  body_ += ']';
  messages_end_ = body_.size();

  SerializedRequest request;
  request.max_tokens = max_tokens_;
  request.members.push_back({"max_tokens", {max_tokens_json_}});
  request.members.push_back({"messages", {}});
  request.members.push_back({"model", {}});
  if (has_system_) request.members.push_back({"system", {system_json_[mark_system_ ? 1 : 0]}});
  if (has_temperature_) request.members.push_back({"temperature", {temperature_json_}});
  if (has_tools_) request.members.push_back({"tools", {tools_json_[mark_tools_ ? 1 : 0]}});
  request.model = model;
  model_json_ = SerializeJson(json(model));
  WriteTail(&request);
  return request;
}

void RequestBuilder::SetModel(const std::string& model, SerializedRequest* request) {
  if (model == request->model) return;
  request->model = model;
  model_json_ = SerializeJson(json(model));
  WriteTail(request);
}

void RequestBuilder::WriteTail(SerializedRequest* request) {
  body_.resize(messages_end_);
  absl::StrAppend(&body_, ",\"model\":", model_json_);
  if (has_system_) absl::StrAppend(&body_, ",\"system\":", system_json_[mark_system_ ? 1 : 0]);
  if (has_temperature_) absl::StrAppend(&body_, ",\"temperature\":", temperature_json_);
  if (has_tools_) absl::StrAppend(&body_, ",\"tools\":", tools_json_[mark_tools_ ? 1 : 0]);
  body_ += stream_ ? ",\"stream\":true}" : "}";
  // body_ may have moved: every view into it is taken again.
  const std::string_view body(body_);
  for (SerializedRequest::Member& m : request->members) {
    if (m.key == "messages") m.value = {body.substr(messages_begin_, messages_end_ - messages_begin_)};
    if (m.key == "model") m.value = {model_json_};
  }
  request->whole = body;
  request->whole_streams = stream_;
}

}  // namespace baton::worker
