#include "workers/prompt_cache.h"

namespace baton::worker {
namespace {

using json = nlohmann::json;

bool CanCarry(const json& block) {
  if (!block.is_object()) return false;
  const std::string type = block.value("type", "");
  if (type == "thinking" || type == "redacted_thinking" || type.empty()) return false;
  if (type == "text") {
    return block.contains("text") && block["text"].is_string() && !block["text"].get_ref<const std::string&>().empty();
  }
  return true;
}

}  // namespace

json CacheControl(const std::string& ttl) {
  json cc = {{"type", "ephemeral"}};
  if (ttl == "1h") cc["ttl"] = "1h";
  return cc;
}

int CountCacheBreakpointsIn(const json& blocks) {
  int n = 0;
  if (!blocks.is_array()) return 0;
  for (const json& b : blocks) n += b.is_object() && b.contains("cache_control");
  return n;
}

bool MarkMessage(json& message, const json& cc) {
  if (!message.is_object() || !message.contains("content")) return false;
  json& content = message["content"];
  if (content.is_string()) {
    if (content.get_ref<const std::string&>().empty()) return false;
    content = json::array({{{"type", "text"}, {"text", content}}});
  }
  if (!content.is_array()) return false;
  for (size_t i = content.size(); i-- > 0;) {
    if (!CanCarry(content[i])) continue;
    if (content[i].contains("cache_control")) return false;  // already one there
    content[i]["cache_control"] = cc;
    return true;
  }
  return false;
}

bool MarkSystem(json& system, const json& cc) {
  if (system.is_string() && !system.get_ref<const std::string&>().empty()) {
    system = json::array({{{"type", "text"}, {"text", system}, {"cache_control", cc}}});
    return true;
  }
  if (system.is_array() && !system.empty() && CanCarry(system.back()) && !system.back().contains("cache_control")) {
    system.back()["cache_control"] = cc;
    return true;
  }
  return false;
}

bool MarkTools(json& tools, const json& cc) {
  if (!tools.is_array() || tools.empty() || tools.back().contains("cache_control")) return false;
  tools.back()["cache_control"] = cc;
  return true;
}

int CountCacheBreakpoints(const json& request) {
  int n = 0;
  if (request.contains("tools")) n += CountCacheBreakpointsIn(request["tools"]);
  if (request.contains("system")) n += CountCacheBreakpointsIn(request["system"]);
  if (request.contains("messages") && request["messages"].is_array()) {
    for (const json& m : request["messages"]) {
      if (m.is_object() && m.contains("content")) n += CountCacheBreakpointsIn(m["content"]);
    }
  }
  return n;
}

void AddCacheBreakpoints(json& request, const std::string& ttl, size_t previous_messages) {
  const json cc = CacheControl(ttl);
  int left = kMaxCacheBreakpoints - CountCacheBreakpoints(request);
  // Most valuable last: the whole conversation, then what the previous step wrote, then
  // the system prompt and tools (their prefix is also covered by the others).
  json& messages = request["messages"];
  const bool has_messages = messages.is_array() && !messages.empty();
  if (left > 0 && has_messages && MarkMessage(messages.back(), cc)) --left;
  if (left > 0 && has_messages && previous_messages > 0 && previous_messages < messages.size() &&
      MarkMessage(messages[previous_messages - 1], cc)) {
    --left;
  }
  if (left > 0 && request.contains("system") && MarkSystem(request["system"], cc)) --left;
  if (left > 0 && request.contains("tools") && MarkTools(request["tools"], cc)) --left;
}

}  // namespace baton::worker
