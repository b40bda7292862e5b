#include "workers/model_sim/validation.h"

#include <algorithm>
#include <set>
#include <string>
#include <vector>

#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "absl/strings/string_view.h"
#include "workers/model_sim/prompt_cache.h"
#include "workers/model_sim/request_view.h"

namespace baton::model_sim {
namespace {

ApiError Invalid(std::string message) { return ApiError{400, "invalid_request_error", std::move(message)}; }

bool IsTextBlockList(const Json& v, absl::string_view field, std::optional<ApiError>& error) {
  for (size_t i = 0; i < v.size(); ++i) {
    const Json& b = v[i];
    std::string at = absl::StrCat(field, ".", i);
    if (!b.is_object()) {
      error = Invalid(absl::StrCat(at, ": Input should be a valid dictionary"));
      return false;
    }
    if (StringField(b, "type") != "text") {
      error = Invalid(absl::StrCat(at, ".type: Input should be 'text'"));
      return false;
    }
    if (!b.contains("text") || !b["text"].is_string()) {
      error = Invalid(absl::StrCat(at, ".text: Field required"));
      return false;
    }
  }
  return true;
}

// Where a message or a block is ("messages.3", "messages.3.content.1"), spelled only
// for an error: a conversation is checked on every call, and a string per block cost
// more than the checks.
struct Path {
  size_t message;
  std::optional<size_t> block;
  std::string str() const {
    return block ? absl::StrCat("messages.", message, ".content.", *block) : absl::StrCat("messages.", message);
  }
};

std::optional<ApiError> ValidateBlock(const Json& b, const Path& at, const std::string& role) {
  if (!b.is_object()) return Invalid(absl::StrCat(at.str(), ": Input should be a valid dictionary"));
  if (!b.contains("type")) return Invalid(absl::StrCat(at.str(), ".type: Field required"));
  if (!b["type"].is_string()) return Invalid(absl::StrCat(at.str(), ".type: Input should be a valid string"));
  const std::string& type = b["type"].get_ref<const std::string&>();
  if (type == "text") {
    if (!b.contains("text")) return Invalid(absl::StrCat(at.str(), ".text: Field required"));
    if (!b["text"].is_string()) return Invalid(absl::StrCat(at.str(), ".text: Input should be a valid string"));
  } else if (type == "tool_use") {
    if (role != "assistant") {
      return Invalid(absl::StrCat(at.str(), ": `tool_use` blocks can only appear in `assistant` messages"));
    }
    for (const char* key : {"id", "name"}) {
      if (!b.contains(key)) return Invalid(absl::StrCat(at.str(), ".", key, ": Field required"));
      if (!b[key].is_string() || b[key].get_ref<const std::string&>().empty()) {
        return Invalid(absl::StrCat(at.str(), ".", key, ": Input should be a non-empty string"));
      }
    }
    if (!b.contains("input")) return Invalid(absl::StrCat(at.str(), ".input: Field required"));
    if (!b["input"].is_object()) return Invalid(absl::StrCat(at.str(), ".input: Input should be a valid dictionary"));
  } else if (type == "tool_result") {
    if (role != "user") {
      return Invalid(absl::StrCat(at.str(), ": `tool_result` blocks can only appear in `user` messages"));
    }
    if (!b.contains("tool_use_id")) return Invalid(absl::StrCat(at.str(), ".tool_use_id: Field required"));
    if (!b["tool_use_id"].is_string()) {
      return Invalid(absl::StrCat(at.str(), ".tool_use_id: Input should be a valid string"));
    }
    if (b.contains("content") && !b["content"].is_string() && !b["content"].is_array()) {
      return Invalid(absl::StrCat(at.str(), ".content: Input should be a valid string or a list of content blocks"));
    }
    if (b.contains("is_error") && !b["is_error"].is_boolean()) {
      return Invalid(absl::StrCat(at.str(), ".is_error: Input should be a valid boolean"));
    }
  } else if (type == "thinking") {
    if (!b.contains("thinking") || !b["thinking"].is_string()) {
      return Invalid(absl::StrCat(at.str(), ".thinking: Field required"));
    }
    if (!b.contains("signature") || !b["signature"].is_string()) {
      return Invalid(absl::StrCat(at.str(), ".signature: Field required"));
    }
  }
  return std::nullopt;
}

// A string member's value without copying it; "" when it is missing or not a string.
absl::string_view StringView(const Json& obj, const char* key) {
  if (!obj.is_object()) return {};
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return {};
  return it->get_ref<const std::string&>();
}

// The message's content when it is an array, else nullptr.
const Json* ContentArray(const Json& m) {
  if (!m.is_object()) return nullptr;
  auto it = m.find("content");
  return it != m.end() && it->is_array() ? &*it : nullptr;
}

// The ids of a message's tool_use blocks, in order (views into the message).
std::vector<absl::string_view> ToolUseIds(const Json& message) {
  std::vector<absl::string_view> ids;
  const Json* content = ContentArray(message);
  if (content == nullptr) return ids;
  for (const Json& b : *content) {
    if (StringView(b, "type") == "tool_use") ids.push_back(StringView(b, "id"));
  }
  return ids;
}

bool Contains(const std::vector<absl::string_view>& ids, absl::string_view id) {
  return std::find(ids.begin(), ids.end(), id) != ids.end();
}

// The shape of message `i` alone; `last`: it ends the request (and may then be an
// empty assistant turn).
std::optional<ApiError> CheckShape(const Json& m, size_t i, bool last) {
  const Path at{i, std::nullopt};
  if (!m.is_object()) return Invalid(absl::StrCat(at.str(), ": Input should be a valid dictionary"));
  if (!m.contains("role")) return Invalid(absl::StrCat(at.str(), ".role: Field required"));
  const std::string role = m["role"].is_string() ? m["role"].get<std::string>() : "";
  if (role != "user" && role != "assistant") {
    return Invalid(absl::StrCat(at.str(), ".role: Input should be 'user' or 'assistant'"));
  }
  if (!m.contains("content")) return Invalid(absl::StrCat(at.str(), ".content: Field required"));
  const Json& content = m["content"];
  if (!content.is_string() && !content.is_array()) {
    return Invalid(absl::StrCat(at.str(), ".content: Input should be a valid string or a list of content blocks"));
  }
  const bool final_assistant = role == "assistant" && last;
  const bool empty = content.is_string() ? content.get_ref<const std::string&>().empty() : content.empty();
  if (empty && !final_assistant) {
    return Invalid(absl::StrCat(
        at.str(), ": all messages must have non-empty content except for the optional final assistant message"));
  }
  if (content.is_array()) {
    for (size_t k = 0; k < content.size(); ++k) {
      if (auto e = ValidateBlock(content[k], Path{i, k}, role)) return e;
    }
  }
  return std::nullopt;
}

// Tool pairing between `previous` (message i-1, may be null) and `m` (message i), in
// the API's order: i-1's tool_use ids must be answered at the very beginning of i,
// then every tool_result of i must answer one of i-1's. (Ids are views and few per
// turn: no copies, no sets.)
std::optional<ApiError> CheckPairing(const Json* previous, const Json& m, size_t i) {
  const absl::string_view role = StringView(m, "role");
  const bool previous_assistant = previous != nullptr && StringView(*previous, "role") == "assistant";
  std::vector<absl::string_view> previous_ids;
  if (previous_assistant) previous_ids = ToolUseIds(*previous);
  if (!previous_ids.empty()) {
    std::vector<absl::string_view> answered;
    if (const Json* content = ContentArray(m); content != nullptr && role == "user") {
      for (const Json& b : *content) {
        if (StringView(b, "type") != "tool_result") break;
        answered.push_back(StringView(b, "tool_use_id"));
      }
    }
    std::vector<absl::string_view> missing;
    for (absl::string_view id : previous_ids) {
      if (!Contains(answered, id)) missing.push_back(id);
    }
    if (!missing.empty()) {
      return Invalid(absl::StrCat(
          "messages.", i - 1, ": `tool_use` ids were found without `tool_result` blocks immediately after: ",
          absl::StrJoin(missing, ", "),
          ". Each `tool_use` block must have a corresponding `tool_result` block in the next message."));
    }
  }
  if (role == "user") {
    if (const Json* content = ContentArray(m)) {
      for (size_t k = 0; k < content->size(); ++k) {
        if (StringView((*content)[k], "type") != "tool_result") continue;
        const absl::string_view id = StringView((*content)[k], "tool_use_id");
        if (!Contains(previous_ids, id)) {
          return Invalid(absl::StrCat(
              "messages.", i, ".content.", k, ": unexpected `tool_use_id` found in `tool_result` blocks: ", id,
              ". Each `tool_result` block must have a corresponding `tool_use` block in the previous message."));
        }
      }
    }
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateMessages(const RequestView& request) {
  using Messages = RequestView::Messages;
  if (request.messages_kind == Messages::kMissing) return Invalid("messages: Field required");
  if (request.messages_kind == Messages::kNotList) return Invalid("messages: Input should be a valid list");
  if (request.messages.empty()) return Invalid("messages: at least one message is required");
  const size_t n = request.messages.size();
  if (n >= 2 && request.messages[n - 2]->checks.first_shape) return request.messages[n - 2]->checks.first_shape;
  const MessageChecks& last = request.messages[n - 1]->checks;
  if (last.shape_if_last) return last.shape_if_last;
  return last.first_pairing;
}

std::optional<ApiError> ValidateTools(const Json& body) {
  if (!body.contains("tools")) return std::nullopt;
  const Json& tools = body["tools"];
  if (!tools.is_array()) return Invalid("tools: Input should be a valid list");
  std::set<std::string> names;
  for (size_t i = 0; i < tools.size(); ++i) {
    const Json& t = tools[i];
    const std::string at = absl::StrCat("tools.", i);
    if (!t.is_object()) return Invalid(absl::StrCat(at, ": Input should be a valid dictionary"));
    if (!t.contains("name")) return Invalid(absl::StrCat(at, ".name: Field required"));
    if (!t["name"].is_string()) return Invalid(absl::StrCat(at, ".name: Input should be a valid string"));
    const std::string& name = t["name"].get_ref<const std::string&>();
    if (!IsValidToolName(name)) {
      return Invalid(absl::StrCat(at, ".name: String should match pattern '^[a-zA-Z0-9_-]{1,64}$'"));
    }
    const std::string type = t.contains("type") && t["type"].is_string() ? t["type"].get<std::string>() : "custom";
    if (type == "custom") {
      if (!t.contains("input_schema")) return Invalid(absl::StrCat(at, ".input_schema: Field required"));
      const Json& schema = t["input_schema"];
      if (!schema.is_object()) return Invalid(absl::StrCat(at, ".input_schema: Input should be a valid dictionary"));
      if (StringField(schema, "type") != "object") {
        return Invalid(absl::StrCat(at, ".input_schema.type: Input should be 'object'"));
      }
    }
    if (!names.insert(name).second) return Invalid("tools: Tool names must be unique.");
  }
  return std::nullopt;
}

std::optional<ApiError> ValidateToolChoice(const Json& body) {
  if (!body.contains("tool_choice")) return std::nullopt;
  const Json& tc = body["tool_choice"];
  if (!tc.is_object()) return Invalid("tool_choice: Input should be a valid dictionary");
  const std::string type = StringField(tc, "type");
  if (type != "auto" && type != "any" && type != "tool" && type != "none") {
    return Invalid("tool_choice.type: Input should be 'auto', 'any', 'tool' or 'none'");
  }
  if (type == "tool" && (!tc.contains("name") || !tc["name"].is_string())) {
    return Invalid("tool_choice.name: Field required");
  }
  return std::nullopt;
}

}  // namespace

MessageChecks CheckMessage(const Json& message, size_t index, const Json* previous,
                           const MessageChecks* previous_checks, const CacheControlState& cache_control) {
  MessageChecks c;
  c.shape = CheckShape(message, index, /*last=*/false);
  if (c.shape) c.shape_if_last = CheckShape(message, index, /*last=*/true);
  c.first_shape = previous_checks != nullptr && previous_checks->first_shape ? previous_checks->first_shape : c.shape;
  c.first_pairing = previous_checks != nullptr && previous_checks->first_pairing
                        ? previous_checks->first_pairing
                        : CheckPairing(previous, message, index);
  c.cache_control = cache_control;
  if (const Json* content = ContentArray(message)) {
    CheckCacheControl(*content, absl::StrCat("messages.", index, ".content"), c.cache_control);
  }
  return c;
}

bool IsValidToolName(const std::string& name) {
  if (name.empty() || name.size() > 64) return false;
  for (char c : name) {
    bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
              c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

std::optional<ApiError> ValidateRequestBody(const Json& body, RequestKind kind) {
  return ValidateRequest(RequestView::FromJson(body), kind);
}

std::optional<ApiError> ValidateRequest(const RequestView& request, RequestKind kind) {
  if (!request.is_object) return Invalid("The request body must be a JSON object");
  const Json& body = request.rest;

  if (!body.contains("model")) return Invalid("model: Field required");
  if (!body["model"].is_string()) return Invalid("model: Input should be a valid string");
  if (body["model"].get_ref<const std::string&>().empty()) {
    return Invalid("model: String should have at least 1 character");
  }

  if (kind == RequestKind::kMessages) {
    if (!body.contains("max_tokens")) return Invalid("max_tokens: Field required");
    const Json& mt = body["max_tokens"];
    if (!mt.is_number_integer()) return Invalid("max_tokens: Input should be a valid integer");
    if (mt.get<int64_t>() < 1) return Invalid("max_tokens: Input should be greater than or equal to 1");
    if (body.contains("stream") && !body["stream"].is_boolean()) {
      return Invalid("stream: Input should be a valid boolean");
    }
  } else {
    for (const char* extra : {"max_tokens", "stream"}) {
      if (body.contains(extra)) return Invalid(absl::StrCat(extra, ": Extra inputs are not permitted"));
    }
  }

  if (auto e = ValidateMessages(request)) return e;

  if (body.contains("system")) {
    const Json& system = body["system"];
    if (!system.is_string() && !system.is_array()) {
      return Invalid("system: Input should be a valid string or a list of text blocks");
    }
    std::optional<ApiError> error;
    if (system.is_array() && !IsTextBlockList(system, "system", error)) return error;
  }

  if (auto e = ValidateTools(body)) return e;
  if (auto e = ValidateToolChoice(body)) return e;

  if (body.contains("temperature")) {
    const Json& t = body["temperature"];
    if (!t.is_number()) return Invalid("temperature: Input should be a valid number");
    if (t.get<double>() < 0 || t.get<double>() > 1) {
      return Invalid("temperature: Input should be between 0 and 1");
    }
  }
  // The state after the last message went through tools, system and every message.
  if (auto e = CacheControlError(request.messages.back()->checks.cache_control)) return e;
  if (body.contains("stop_sequences") && !body["stop_sequences"].is_array()) {
    return Invalid("stop_sequences: Input should be a valid list");
  }
  if (kind == RequestKind::kMessages && body.contains("thinking") && body["thinking"].is_object() &&
      StringField(body["thinking"], "type") == "enabled") {
    const Json& thinking = body["thinking"];
    if (!thinking.contains("budget_tokens") || !thinking["budget_tokens"].is_number_integer()) {
      return Invalid("thinking.enabled.budget_tokens: Field required");
    }
    int64_t budget = thinking["budget_tokens"].get<int64_t>();
    if (budget < 1024) {
      return Invalid("thinking.enabled.budget_tokens: Input should be greater than or equal to 1024");
    }
    if (budget >= body["max_tokens"].get<int64_t>()) {
      return Invalid("`max_tokens` must be greater than `thinking.budget_tokens`");
    }
  }
  return std::nullopt;
}

}  // namespace baton::model_sim
