#include "workers/model_sim/wire.h"

#include "absl/strings/str_cat.h"

namespace baton::model_sim {
namespace {

// Delta sizes: small enough that every non-trivial block arrives in several pieces.
constexpr size_t kTextChunkBytes = 8;
constexpr size_t kJsonChunkBytes = 10;

std::string Dump(const Json& j) {
  return j.dump(-1, ' ', false, Json::error_handler_t::replace);
}

}  // namespace

std::string StringField(const Json& obj, const std::string& key, const std::string& def) {
  if (!obj.is_object()) return def;
  auto it = obj.find(key);
  if (it == obj.end() || !it->is_string()) return def;
  return it->get<std::string>();
}

std::string ErrorTypeForStatus(int status) {
  switch (status) {
    case 400: return "invalid_request_error";
    case 401: return "authentication_error";
    case 402: return "billing_error";
    case 403: return "permission_error";
    case 404: return "not_found_error";
    case 413: return "request_too_large";
    case 429: return "rate_limit_error";
    case 504: return "timeout_error";
    case 529: return "overloaded_error";
    default: return status >= 500 ? "api_error" : "invalid_request_error";
  }
}

int StatusForErrorType(absl::string_view type) {
  if (type == "invalid_request_error") return 400;
  if (type == "authentication_error") return 401;
  if (type == "billing_error") return 402;
  if (type == "permission_error") return 403;
  if (type == "not_found_error") return 404;
  if (type == "request_too_large") return 413;
  if (type == "rate_limit_error") return 429;
  if (type == "timeout_error") return 504;
  if (type == "overloaded_error") return 529;
  return 500;  // api_error and anything unknown
}

Json ErrorBody(const std::string& type, const std::string& message, const std::string& request_id) {
  Json body = Json::object();
  body["type"] = "error";
  body["error"] = Json{{"type", type}, {"message", message}};
  body["request_id"] = request_id;
  return body;
}

int64_t EstimateTokens(size_t chars) { return static_cast<int64_t>((chars + 3) / 4); }

int64_t EstimateInputTokens(const Json& request) {
  // The size of {"messages":...,"system":...,"tools":...} (the members present), counted
  // member by member: copying them into one object cost as much as dumping it.
  size_t chars = 2;
  bool first = true;
  for (const char* key : {"messages", "system", "tools"}) {
    if (!request.is_object() || !request.contains(key)) continue;
    chars += (first ? 0 : 1) + std::char_traits<char>::length(key) + 3 + Dump(request[key]).size();
    first = false;
  }
  return EstimateTokens(chars);
}

int64_t EstimateOutputTokens(const Json& content) {
  size_t chars = 0;
  if (content.is_array()) {
    for (const Json& block : content) {
      if (!block.is_object()) continue;
      for (const char* key : {"text", "thinking", "name"}) {
        if (block.contains(key) && block[key].is_string()) {
          chars += block[key].get_ref<const std::string&>().size();
        }
      }
      if (block.contains("input")) chars += Dump(block["input"]).size();
    }
  }
  return std::max<int64_t>(1, EstimateTokens(chars));
}

Json MakeUsage(int64_t input_tokens, int64_t output_tokens) {
  Json usage = Json::object();
  usage["input_tokens"] = input_tokens;
  usage["cache_creation_input_tokens"] = 0;
  usage["cache_read_input_tokens"] = 0;
  usage["cache_creation"] = Json{{"ephemeral_5m_input_tokens", 0}, {"ephemeral_1h_input_tokens", 0}};
  usage["output_tokens"] = output_tokens;
  usage["service_tier"] = "standard";
  return usage;
}

Json MakeMessage(const std::string& id, const std::string& model, Json content,
                 const std::string& stop_reason, Json stop_sequence, Json usage) {
  Json m = Json::object();
  m["id"] = id;
  m["type"] = "message";
  m["role"] = "assistant";
  m["model"] = model;
  m["content"] = std::move(content);
  m["stop_reason"] = stop_reason;
  m["stop_sequence"] = std::move(stop_sequence);
  m["usage"] = std::move(usage);
  return m;
}

std::string SseEvent(const std::string& type, const Json& data) {
  return absl::StrCat("event: ", type, "\ndata: ", Dump(data), "\n\n");
}

std::vector<std::string> MessageToSseEvents(const Json& message) {
  std::vector<std::string> events;
  const Json& usage = message.value("usage", Json::object());

  Json start = message;
  start["content"] = Json::array();
  start["stop_reason"] = nullptr;
  start["stop_sequence"] = nullptr;
  start["usage"]["output_tokens"] = 1;
  events.push_back(SseEvent("message_start", Json{{"type", "message_start"}, {"message", start}}));

  const Json& content = message.value("content", Json::array());
  for (size_t i = 0; i < content.size(); ++i) {
    const Json& block = content[i];
    const std::string type = StringField(block, "type");
    auto delta = [&](Json d) {
      events.push_back(SseEvent(
          "content_block_delta",
          Json{{"type", "content_block_delta"}, {"index", i}, {"delta", std::move(d)}}));
    };
    Json head = block;
    if (type == "text") {
      head["text"] = "";
    } else if (type == "tool_use" || type == "server_tool_use") {
      head["input"] = Json::object();
    } else if (type == "thinking") {
      head["thinking"] = "";
      head["signature"] = "";
    }
    events.push_back(SseEvent(
        "content_block_start",
        Json{{"type", "content_block_start"}, {"index", i}, {"content_block", head}}));
    if (i == 0) events.push_back(SseEvent("ping", Json{{"type", "ping"}}));

    if (type == "text") {
      for (const std::string& piece : SplitUtf8(StringField(block, "text"), kTextChunkBytes)) {
        delta(Json{{"type", "text_delta"}, {"text", piece}});
      }
    } else if (type == "tool_use" || type == "server_tool_use") {
      const Json input = block.contains("input") ? block["input"] : Json::object();
      // The API opens with an empty partial_json; clients must cope with it.
      delta(Json{{"type", "input_json_delta"}, {"partial_json", ""}});
      const std::string json = input.empty() ? std::string() : Dump(input);
      if (!json.empty()) {
        for (const std::string& piece : SplitUtf8(json, kJsonChunkBytes)) {
          delta(Json{{"type", "input_json_delta"}, {"partial_json", piece}});
        }
      }
    } else if (type == "thinking") {
      for (const std::string& piece : SplitUtf8(StringField(block, "thinking"), kTextChunkBytes)) {
        delta(Json{{"type", "thinking_delta"}, {"thinking", piece}});
      }
      delta(Json{{"type", "signature_delta"}, {"signature", StringField(block, "signature")}});
    }
    events.push_back(
        SseEvent("content_block_stop", Json{{"type", "content_block_stop"}, {"index", i}}));
  }
  if (content.empty()) events.push_back(SseEvent("ping", Json{{"type", "ping"}}));

  Json delta_usage = Json::object();
  for (const char* key : {"input_tokens", "cache_creation_input_tokens", "cache_read_input_tokens",
                          "output_tokens"}) {
    if (usage.contains(key)) delta_usage[key] = usage[key];
  }
  events.push_back(SseEvent(
      "message_delta",
      Json{{"type", "message_delta"},
           {"delta",
            Json{{"stop_reason", message.value("stop_reason", Json())},
                 {"stop_sequence", message.value("stop_sequence", Json())}}},
           {"usage", delta_usage}}));
  events.push_back(SseEvent("message_stop", Json{{"type", "message_stop"}}));
  return events;
}

std::vector<std::string> SplitUtf8(absl::string_view s, size_t max_bytes) {
  if (max_bytes == 0) max_bytes = 1;
  std::vector<std::string> out;
  size_t pos = 0;
  while (pos < s.size()) {
    size_t end = std::min(s.size(), pos + max_bytes);
    // Back off continuation bytes (10xxxxxx) so a sequence is never cut.
    while (end < s.size() && end > pos + 1 &&
           (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) {
      --end;
    }
    // A single sequence longer than max_bytes: take all of it.
    if (end == pos + 1 && end < s.size()) {
      while (end < s.size() && (static_cast<unsigned char>(s[end]) & 0xC0) == 0x80) ++end;
    }
    out.emplace_back(s.substr(pos, end - pos));
    pos = end;
  }
  return out;
}

std::string MakeId(absl::string_view prefix, uint64_t a, uint64_t b) {
  static constexpr char kAlphabet[] =
      "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
  std::string id = absl::StrCat(prefix, "01");
  // Mix so that ids from nearby inputs look unrelated.
  uint64_t x = a ^ (b * 0x9E3779B97F4A7C15ULL);
  uint64_t y = b ^ (a * 0xC2B2AE3D27D4EB4FULL) ^ 0x165667B19E3779F9ULL;
  for (int i = 0; i < 22; ++i) {
    uint64_t& w = (i % 2 == 0) ? x : y;
    w ^= w >> 29;
    w *= 0xBF58476D1CE4E5B9ULL;
    w ^= w >> 32;
    id.push_back(kAlphabet[w % 62]);
  }
  return id;
}

}  // namespace baton::model_sim
