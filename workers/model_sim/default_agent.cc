#include "workers/model_sim/default_agent.h"

#include <algorithm>
#include <map>
#include <vector>

#include "absl/strings/ascii.h"
#include "absl/strings/numbers.h"
#include "absl/strings/str_cat.h"
#include "absl/strings/str_join.h"
#include "workers/model_sim/request_view.h"

namespace baton::model_sim {
namespace {

constexpr int kMaxSchemaDepth = 8;
// The tool that gives the final answer (an agent's output_schema): called last.
constexpr char kRespondTool[] = "respond";
constexpr size_t kMaxResultChars = 100;
constexpr size_t kMaxEchoChars = 200;

bool IsSimpleType(const Json& schema) {
  if (!schema.is_object()) return false;
  if (schema.contains("enum") || schema.contains("const")) return true;
  const std::string type = StringField(schema, "type");
  return type == "string" || type == "integer" || type == "number" || type == "boolean";
}

std::string SchemaType(const Json& schema) {
  if (!schema.is_object()) return "";
  auto it = schema.find("type");
  if (it != schema.end()) {
    if (it->is_string()) return it->get<std::string>();
    if (it->is_array()) {
      for (const Json& t : *it) {
        if (t.is_string() && t != "null") return t.get<std::string>();
      }
      return "null";
    }
  }
  if (schema.contains("properties")) return "object";
  if (schema.contains("items")) return "array";
  return "";
}

// What generating one value needs beyond its schema.
struct Generation {
  int next_number = 2;  // the next number generated
  int items = -1;       // [sim items=N]; -1: not given
};

// `item`: 1-based position of the value (or of what holds it) in the innermost array
// around it, 0 outside arrays; `numbered`: strings get the position appended.
Json Generate(const Json& schema, Generation& gen, int depth, int item, bool numbered) {
  const Json text = numbered ? Json(absl::StrCat("hello ", item)) : Json("hello");
  if (!schema.is_object() || depth > kMaxSchemaDepth) return text;
  if (schema.contains("const")) return schema["const"];
  if (schema.contains("enum") && schema["enum"].is_array() && !schema["enum"].empty()) {
    // Items of an array take the values in turn, so they differ while they can.
    const Json& values = schema["enum"];
    return values[item > 0 ? static_cast<size_t>(item - 1) % values.size() : 0];
  }
  for (const char* key : {"anyOf", "oneOf"}) {
    if (schema.contains(key) && schema[key].is_array() && !schema[key].empty()) {
      return Generate(schema[key][0], gen, depth + 1, item, numbered);
    }
  }
  const std::string type = SchemaType(schema);
  if (type == "integer" || type == "number") return gen.next_number++;
  if (type == "boolean") return true;
  if (type == "null") return nullptr;
  if (type == "array") {
    Json out = Json::array();
    const bool has_items = schema.contains("items") && schema["items"].is_object();
    int64_t count = !has_items ? 0 : gen.items >= 0 ? gen.items : 1;
    if (schema.contains("minItems") && schema["minItems"].is_number_integer()) {
      count = std::max(count, schema["minItems"].get<int64_t>());
    }
    if (schema.contains("maxItems") && schema["maxItems"].is_number_integer()) {
      count = std::min(count, schema["maxItems"].get<int64_t>());
    }
    count = std::min<int64_t>(count, 1000);
    const Json item_schema = has_items ? schema["items"] : Json::object();
    for (int k = 1; k <= count; ++k) {
      out.push_back(Generate(item_schema, gen, depth + 1, k, gen.items >= 0 || count > 1));
    }
    return out;
  }
  if (type == "object") {
    Json out = Json::object();
    std::vector<std::string> required;
    if (schema.contains("required") && schema["required"].is_array()) {
      for (const Json& r : schema["required"]) {
        if (r.is_string()) required.push_back(r.get<std::string>());
      }
    }
    auto is_required = [&](const std::string& name) {
      return std::find(required.begin(), required.end(), name) != required.end();
    };
    if (schema.contains("properties") && schema["properties"].is_object()) {
      for (const auto& [name, prop] : schema["properties"].items()) {
        if (is_required(name) || IsSimpleType(prop)) {
          out[name] = Generate(prop, gen, depth + 1, item, numbered);
        }
      }
    }
    // Required names without a property schema still get a value.
    for (const std::string& name : required) {
      if (!out.contains(name)) out[name] = text;
    }
    return out;
  }
  return text;
}

// The text of a tool_result's content, on one line and cut short.
std::string ResultText(const Json& block) {
  std::string text;
  if (block.contains("content")) {
    const Json& c = block["content"];
    if (c.is_string()) {
      text = c.get<std::string>();
    } else if (c.is_array()) {
      std::vector<std::string> parts;
      for (const Json& b : c) {
        std::string type = StringField(b, "type");
        parts.push_back(type == "text" ? StringField(b, "text") : absl::StrCat("[", type, "]"));
      }
      text = absl::StrJoin(parts, " ");
    }
  }
  for (char& ch : text) {
    if (ch == '\n' || ch == '\r' || ch == '\t') ch = ' ';
  }
  text = std::string(absl::StripAsciiWhitespace(text));
  if (text.empty()) return "nothing";
  if (text.size() > kMaxResultChars) {
    text = absl::StrCat(SplitUtf8(text, kMaxResultChars)[0], "...");
  }
  return text;
}

std::string StripDirectives(std::string text) {
  for (size_t at; (at = text.find("[sim ")) != std::string::npos;) {
    size_t close = text.find(']', at);
    text.erase(at, close == std::string::npos ? std::string::npos : close - at + 1);
  }
  return std::string(absl::StripAsciiWhitespace(text));
}

std::string JoinNames(const std::vector<std::string>& names) {
  if (names.size() <= 1) return names.empty() ? "" : names[0];
  return absl::StrCat(absl::StrJoin(names.begin(), names.end() - 1, ", "), " and ", names.back());
}

}  // namespace

std::string MessageText(const Json& message) {
  if (!message.is_object() || !message.contains("content")) return "";
  const Json& c = message["content"];
  if (c.is_string()) return c.get<std::string>();
  std::vector<std::string> parts;
  if (c.is_array()) {
    for (const Json& b : c) {
      if (StringField(b, "type") == "text") parts.push_back(StringField(b, "text"));
    }
  }
  return absl::StrJoin(parts, "\n");
}

Directives ParseDirectives(const Json& request) { return ParseDirectives(RequestView::FromJson(request)); }

Directives ParseDirectives(const RequestView& request) {
  Directives d;
  std::string text;
  for (const auto& m : request.messages) {
    if (StringField(m->message, "role") == "user") {
      text = MessageText(m->message);
      break;
    }
  }
  for (size_t at = text.find("[sim "); at != std::string::npos; at = text.find("[sim ", at + 1)) {
    size_t close = text.find(']', at);
    if (close == std::string::npos) break;
    absl::string_view inner = absl::string_view(text).substr(at + 5, close - at - 5);
    while (!inner.empty()) {
      inner = absl::StripLeadingAsciiWhitespace(inner);
      size_t eq = inner.find('=');
      if (eq == absl::string_view::npos) break;
      std::string key(inner.substr(0, eq));
      inner.remove_prefix(eq + 1);
      std::string value;
      if (key == "text") {
        value = std::string(absl::StripAsciiWhitespace(inner));
        inner = {};
      } else {
        size_t end = 0;
        while (end < inner.size() && !absl::ascii_isspace(static_cast<unsigned char>(inner[end]))) ++end;
        value = std::string(inner.substr(0, end));
        inner.remove_prefix(end);
      }
      int n = 0;
      if (key == "steps" && absl::SimpleAtoi(value, &n) && n >= 1) d.steps = n;
      if (key == "tool" && !value.empty()) d.tool = value;
      if (key == "sleep_ms" && absl::SimpleAtoi(value, &n) && n >= 0) d.sleep_ms = n;
      if (key == "text") d.text = value;
      if (key == "parallel" && absl::SimpleAtoi(value, &n) && n >= 1) d.parallel = n;
      if (key == "items" && absl::SimpleAtoi(value, &n) && n >= 0 && n <= 1000) d.items = n;
    }
  }
  return d;
}

Json InputFromSchema(const Json& schema, std::optional<int> items) {
  Generation gen;
  if (items) gen.items = *items;
  Json out = Generate(schema, gen, 0, 0, false);
  return out.is_object() ? out : Json::object();
}

std::string ToolUseId(const Json& request, size_t block_index) {
  return ToolUseId(RequestView::FromJson(request), block_index);
}

std::string ToolUseId(const RequestView& request, size_t block_index) {
  // The hash of the first message's compact JSON, kept with it.
  const uint64_t conversation = request.messages.empty() ? Fnv1a("") : request.messages[0]->dump_hash;
  const uint64_t position = (static_cast<uint64_t>(request.messages.size()) << 16) | block_index;
  return MakeId("toolu_", conversation, position);
}

AgentFacts AgentFactsOf(const Json& m, size_t index, const AgentFacts* previous) {
  AgentFacts f;
  if (previous != nullptr) {
    f.results_through = previous->results_through;
    f.answered_through = previous->answered_through;
    f.last_user = previous->last_user;
  }
  if (!m.is_object()) return f;
  if (StringField(m, "role") == "user") f.last_user = index;
  auto content = m.find("content");
  if (content == m.end() || !content->is_array()) return f;
  for (const Json& b : *content) {
    const std::string type = StringField(b, "type");
    if (type == "tool_use") f.tool_uses.emplace_back(StringField(b, "id"), StringField(b, "name"));
    if (type != "tool_result") continue;
    // The last tool_use with this id before it: validation puts it in the previous message.
    std::string name = "tool";
    const std::string id = StringField(b, "tool_use_id");
    if (previous != nullptr) {
      for (auto it = previous->tool_uses.rbegin(); it != previous->tool_uses.rend(); ++it) {
        if (it->first == id) {
          name = it->second;
          break;
        }
      }
    }
    const bool is_error = b.contains("is_error") && b["is_error"] == true;
    f.answered_through |= name == kRespondTool && !is_error;
    f.summaries.push_back(absl::StrCat(name, is_error ? " failed: " : " returned ", ResultText(b)));
    ++f.results_through;
  }
  return f;
}

AgentReply DefaultAgentReply(const Json& request, const Directives& directives) {
  return DefaultAgentReply(RequestView::FromJson(request), directives);
}

AgentReply DefaultAgentReply(const RequestView& view, const Directives& directives) {
  const Json& request = view.rest;

  // Offered tools, by name, with their schemas; `respond` is kept for the answer.
  std::vector<std::string> tool_names;
  std::map<std::string, Json> schemas;
  bool respond_offered = false;
  if (request.contains("tools") && request["tools"].is_array()) {
    for (const Json& t : request["tools"]) {
      std::string name = StringField(t, "name");
      if (name.empty()) continue;
      schemas[name] = t.contains("input_schema") ? t["input_schema"] : Json::object();
      if (name == kRespondTool) {
        respond_offered = true;
      } else {
        tool_names.push_back(name);
      }
    }
  }
  std::string choice = "auto";
  std::string forced_tool;
  if (request.contains("tool_choice")) {
    choice = StringField(request["tool_choice"], "type", "auto");
    forced_tool = StringField(request["tool_choice"], "name");
  }

  // What the conversation holds so far (kept with its last message).
  const AgentFacts& so_far = view.messages.back()->agent;
  const int results = so_far.results_through;
  const bool answered = so_far.answered_through;  // a respond call got a result that is not an error
  const int wanted = directives.steps ? *directives.steps - 1 : static_cast<int>(tool_names.size());
  const bool forced = choice == "any" || choice == "tool";
  const bool call = !tool_names.empty() && choice != "none" && (results < wanted || forced);
  // With `respond` offered the answer is a call of it, unless one was answered already.
  const bool respond = !call && respond_offered && choice != "none" && !answered;

  auto tool_use = [&](const std::string& name, size_t block_index) {
    auto schema = schemas.find(name);
    Json block = Json::object();
    block["type"] = "tool_use";
    block["id"] = ToolUseId(view, block_index);
    block["name"] = name;
    block["input"] = schema == schemas.end() ? Json::object() : InputFromSchema(schema->second, directives.items);
    return block;
  };

  AgentReply reply;
  if (call) {
    int count = std::max(1, std::min(directives.parallel, wanted - results));
    std::vector<std::string> names;
    for (int j = 0; j < count; ++j) {
      if (choice == "tool" && !forced_tool.empty()) {
        names.push_back(forced_tool);
      } else if (directives.tool) {
        names.push_back(*directives.tool);
      } else {
        names.push_back(tool_names[static_cast<size_t>(results + j) % tool_names.size()]);
      }
    }
    reply.content.push_back(Json{{"type", "text"}, {"text", absl::StrCat("I'll call ", JoinNames(names), ".")}});
    for (size_t j = 0; j < names.size(); ++j) reply.content.push_back(tool_use(names[j], j + 1));
    reply.stop_reason = "tool_use";
  } else if (respond) {
    reply.content.push_back(Json{{"type", "text"}, {"text", absl::StrCat("I'll call ", kRespondTool, ".")}});
    reply.content.push_back(tool_use(kRespondTool, 1));
    reply.stop_reason = "tool_use";
  } else {
    std::string text;
    if (directives.text) {
      text = *directives.text;
    } else if (results > 0) {
      std::vector<absl::string_view> summaries;
      for (const auto& m : view.messages) {
        for (const std::string& s : m->agent.summaries) summaries.push_back(s);
      }
      text = absl::StrCat("Done. ", absl::StrJoin(summaries, "; "));
    } else {
      std::string said = StripDirectives(so_far.last_user ? MessageText(view.message(*so_far.last_user)) : "");
      if (said.size() > kMaxEchoChars) said = absl::StrCat(SplitUtf8(said, kMaxEchoChars)[0], "...");
      text = said.empty() ? "Done." : absl::StrCat("Done. You said: ", said);
    }
    reply.content.push_back(Json{{"type", "text"}, {"text", text}});
    reply.stop_reason = "end_turn";
  }

  // Like the real model, stop at max_tokens (the reply then ends inside its text).
  const int64_t max_tokens = request["max_tokens"].get<int64_t>();
  if (EstimateOutputTokens(reply.content) > max_tokens) {
    std::string text = StringField(reply.content[0], "text");
    size_t keep = static_cast<size_t>(std::min<int64_t>(max_tokens * 4, static_cast<int64_t>(text.size())));
    std::string kept = text.empty() ? text : SplitUtf8(text, keep)[0];
    reply.content = Json::array({Json{{"type", "text"}, {"text", kept}}});
    reply.stop_reason = "max_tokens";
  }
  return reply;
}

}  // namespace baton::model_sim
