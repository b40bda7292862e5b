#include "workers/model_sim/script.h"

#include <set>

#include "absl/strings/str_cat.h"
#include "common/status_macros.h"

namespace baton::model_sim {
namespace {

absl::Status Bad(const std::string& at, absl::string_view field, absl::string_view problem) {
  return absl::InvalidArgumentError(absl::StrCat(at, ".", field, ": ", problem));
}

absl::StatusOr<int> NonNegativeInt(const Json& reply, const std::string& at, const char* field,
                                   int def, int min = 0) {
  if (!reply.contains(field)) return def;
  const Json& v = reply[field];
  if (!v.is_number_integer() || v.get<int64_t>() < min || v.get<int64_t>() > 1'000'000'000) {
    return Bad(at, field, absl::StrCat("must be an integer >= ", min));
  }
  return v.get<int>();
}

absl::StatusOr<Json> ParseContent(const Json& content, const std::string& at) {
  if (content.is_string()) return Json::array({Json{{"type", "text"}, {"text", content}}});
  if (!content.is_array()) return Bad(at, "content", "must be a string or a list of content blocks");
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& b = content[i];
    const std::string field = absl::StrCat("content.", i);
    if (!b.is_object() || !b.contains("type") || !b["type"].is_string()) {
      return Bad(at, field, "must be an object with a string \"type\"");
    }
    const std::string type = b["type"].get<std::string>();
    if (type == "text" && !(b.contains("text") && b["text"].is_string())) {
      return Bad(at, field + ".text", "must be a string");
    }
    if (type == "tool_use") {
      if (!(b.contains("name") && b["name"].is_string())) return Bad(at, field + ".name", "must be a string");
      if (b.contains("id") && !b["id"].is_string()) return Bad(at, field + ".id", "must be a string");
      if (b.contains("input") && !b["input"].is_object()) return Bad(at, field + ".input", "must be an object");
    }
    if (type == "thinking" && !(b.contains("thinking") && b["thinking"].is_string())) {
      return Bad(at, field + ".thinking", "must be a string");
    }
  }
  return content;
}

// Reads {"type":..,"message":..} into type/message, defaulting from `status`.
absl::Status ParseError(const Json& error, const std::string& at, const char* field, int status,
                        std::string& type, std::string& message) {
  if (!error.is_object()) return Bad(at, field, "must be an object {\"type\":..., \"message\":...}");
  if (error.contains("type") && !error["type"].is_string()) return Bad(at, std::string(field) + ".type", "must be a string");
  if (error.contains("message") && !error["message"].is_string()) {
    return Bad(at, std::string(field) + ".message", "must be a string");
  }
  type = StringField(error, "type", status > 0 ? ErrorTypeForStatus(status) : "api_error");
  message = StringField(error, "message", absl::StrCat("Simulated ", type));
  return absl::OkStatus();
}

const std::set<std::string>& KnownFields() {
  static const auto* fields = new std::set<std::string>{
      "match",   "repeat", "delay_ms",      "event_delay_ms", "headers", "content",
      "stop_reason", "stop_sequence", "usage", "model", "status", "error",
      "stream_error", "after_events", "body"};
  return *fields;
}

}  // namespace

absl::StatusOr<ScriptedReply> ParseScriptedReply(const Json& reply, const std::string& at) {
  if (!reply.is_object()) return absl::InvalidArgumentError(absl::StrCat(at, ": must be an object"));
  for (const auto& [key, value] : reply.items()) {
    // Keys starting with '_' are comments.
    if (!key.empty() && key[0] != '_' && !KnownFields().count(key)) {
      return Bad(at, key, "unknown field");
    }
  }
  ScriptedReply r;
  if (reply.contains("match")) {
    if (!reply["match"].is_string()) return Bad(at, "match", "must be a string");
    r.match = reply["match"].get<std::string>();
  }
  ASSIGN_OR_RETURN(r.repeat, NonNegativeInt(reply, at, "repeat", 1, 1));
  ASSIGN_OR_RETURN(r.delay_ms, NonNegativeInt(reply, at, "delay_ms", 0));
  ASSIGN_OR_RETURN(r.event_delay_ms, NonNegativeInt(reply, at, "event_delay_ms", 0));
  ASSIGN_OR_RETURN(r.after_events, NonNegativeInt(reply, at, "after_events", 0));

  if (reply.contains("headers")) {
    const Json& h = reply["headers"];
    if (!h.is_object()) return Bad(at, "headers", "must be an object of strings");
    for (const auto& [name, value] : h.items()) {
      if (!value.is_string() && !value.is_number()) return Bad(at, "headers." + name, "must be a string");
      r.headers.emplace_back(name, value.is_string() ? value.get<std::string>() : value.dump());
    }
  }
  if (reply.contains("content")) {
    ASSIGN_OR_RETURN(r.content, ParseContent(reply["content"], at));
  }
  if (reply.contains("stop_reason")) {
    if (!reply["stop_reason"].is_string()) return Bad(at, "stop_reason", "must be a string");
    r.stop_reason = reply["stop_reason"].get<std::string>();
  }
  if (reply.contains("stop_sequence")) {
    if (!reply["stop_sequence"].is_string() && !reply["stop_sequence"].is_null()) {
      return Bad(at, "stop_sequence", "must be a string or null");
    }
    r.stop_sequence = reply["stop_sequence"];
  }
  if (reply.contains("usage")) {
    if (!reply["usage"].is_object()) return Bad(at, "usage", "must be an object");
    r.usage = reply["usage"];
  }
  if (reply.contains("model")) {
    if (!reply["model"].is_string()) return Bad(at, "model", "must be a string");
    r.model = reply["model"].get<std::string>();
  }
  if (reply.contains("status")) {
    const Json& s = reply["status"];
    if (!s.is_number_integer() || s.get<int64_t>() < 200 || s.get<int64_t>() > 599) {
      return Bad(at, "status", "must be an HTTP status between 200 and 599");
    }
    r.status = s.get<int>();
  }

  if (reply.contains("body")) {
    if (!reply["body"].is_string()) return Bad(at, "body", "must be a string");
    r.raw_body = reply["body"].get<std::string>();
  }

  if (reply.contains("stream_error")) {
    if (reply.contains("error")) return Bad(at, "stream_error", "cannot be combined with \"error\"");
    r.kind = ScriptedReply::Kind::kStreamError;
    RETURN_IF_ERROR(
        ParseError(reply["stream_error"], at, "stream_error", 0, r.error_type, r.error_message));
    // A non-streaming request gets the same error as an HTTP status.
    if (r.status == 0) r.status = StatusForErrorType(r.error_type);
  } else if (reply.contains("error") || (r.status != 0 && r.status != 200)) {
    r.kind = ScriptedReply::Kind::kError;
    if (r.status == 0) {
      const std::string type = reply["error"].is_object() ? StringField(reply["error"], "type") : "";
      r.status = type.empty() ? 500 : StatusForErrorType(type);
    }
    if (r.status < 400) return Bad(at, "status", "an error reply needs a status >= 400");
    RETURN_IF_ERROR(ParseError(reply.contains("error") ? reply["error"] : Json::object(), at,
                               "error", r.status, r.error_type, r.error_message));
  }
  if (r.raw_body && r.kind != ScriptedReply::Kind::kError) {
    return Bad(at, "body", "only an error reply (status >= 400) can carry a raw body");
  }
  return r;
}

absl::StatusOr<std::vector<ScriptedReply>> ParseScript(const Json& script) {
  if (!script.is_object() || !script.contains("replies")) {
    return absl::InvalidArgumentError("replies: Field required (send {\"replies\":[...]})");
  }
  const Json& replies = script["replies"];
  if (!replies.is_array()) return absl::InvalidArgumentError("replies: must be a list");
  std::vector<ScriptedReply> out;
  for (size_t i = 0; i < replies.size(); ++i) {
    ASSIGN_OR_RETURN(ScriptedReply r, ParseScriptedReply(replies[i], absl::StrCat("replies.", i)));
    out.push_back(std::move(r));
  }
  return out;
}

void ReplyQueue::Append(std::vector<ScriptedReply> replies) {
  for (ScriptedReply& r : replies) replies_.push_back(std::move(r));
}

std::optional<ScriptedReply> ReplyQueue::Take(absl::string_view raw_body) {
  for (auto it = replies_.begin(); it != replies_.end(); ++it) {
    if (!it->match.empty() && raw_body.find(it->match) == absl::string_view::npos) continue;
    ScriptedReply taken = *it;
    if (--it->repeat <= 0) replies_.erase(it);
    taken.repeat = 1;
    return taken;
  }
  return std::nullopt;
}

size_t ReplyQueue::pending() const {
  size_t n = 0;
  for (const ScriptedReply& r : replies_) n += static_cast<size_t>(r.repeat);
  return n;
}

}  // namespace baton::model_sim
