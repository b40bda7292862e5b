#include "workers/model_sim/prompt_cache.h"

#include <algorithm>
#include <vector>

#include "absl/strings/str_cat.h"

namespace baton::model_sim {
namespace {

// Entries kept before the cache starts over (a long benchmark never resets it).
constexpr size_t kMaxEntries = 200'000;
constexpr int kMaxBreakpoints = 4;
constexpr int kLookbackBlocks = 20;

ApiError Invalid(std::string message) { return ApiError{400, "invalid_request_error", std::move(message)}; }

struct Unit {
  std::string text;  // the block's JSON without cache_control, with its place
  std::optional<std::string> ttl;  // set for a breakpoint
};

// Appends `value` as compact JSON with every object's keys sorted (what dumping it
// after a round trip through nlohmann::json, whose objects are sorted maps, gives),
// leaving out the member `skip` of the outermost object.
void AppendSorted(const Json& value, std::string* out, const char* skip = nullptr) {
  if (value.is_object()) {
    std::vector<std::pair<const std::string*, const Json*>> members;
    members.reserve(value.size());
    for (auto it = value.begin(); it != value.end(); ++it) {
      if (skip == nullptr || it.key() != skip) members.emplace_back(&it.key(), &it.value());
    }
    std::sort(members.begin(), members.end(), [](const auto& a, const auto& b) { return *a.first < *b.first; });
    out->push_back('{');
    for (size_t i = 0; i < members.size(); ++i) {
      if (i > 0) out->push_back(',');
      *out += Json(*members[i].first).dump();
      out->push_back(':');
      AppendSorted(*members[i].second, out);
    }
    out->push_back('}');
  } else if (value.is_array()) {
    out->push_back('[');
    for (size_t i = 0; i < value.size(); ++i) {
      if (i > 0) out->push_back(',');
      AppendSorted(value[i], out);
    }
    out->push_back(']');
  } else {
    *out += value.dump();
  }
}

void AddUnit(std::vector<Unit>& units, const std::string& where, const Json& block) {
  Unit u;
  if (block.is_object() && block.contains("cache_control")) {
    const Json& cc = block["cache_control"];
    u.ttl = cc.is_object() && cc.contains("ttl") && cc["ttl"].is_string() ? cc["ttl"].get<std::string>() : "5m";
  }
  // Keys sorted: the same block is the same prefix whatever order a client wrote it in.
  // (Spelled in one pass: dumping, parsing into a sorted tree and dumping again cost
  // most of the simulator's time in long conversations.)
  u.text = where;
  AppendSorted(block, &u.text, "cache_control");
  units.push_back(std::move(u));
}

// The request's prefix, block by block, in the API's order.
std::vector<Unit> Units(const Json& body) {
  std::vector<Unit> units;
  if (body.contains("tools") && body["tools"].is_array()) {
    for (const Json& t : body["tools"]) AddUnit(units, "tool:", t);
  }
  if (body.contains("system")) {
    const Json& system = body["system"];
    if (system.is_string()) {
      AddUnit(units, "system:", Json{{"type", "text"}, {"text", system}});
    } else if (system.is_array()) {
      for (const Json& b : system) AddUnit(units, "system:", b);
    }
  }
  if (body.contains("messages") && body["messages"].is_array()) {
    const Json& messages = body["messages"];
    for (size_t i = 0; i < messages.size(); ++i) {
      const Json& m = messages[i];
      if (!m.is_object() || !m.contains("content")) continue;
      // A message boundary is part of the prefix: the same blocks in other turns differ.
      const std::string where = absl::StrCat(StringField(m, "role"), i, ":");
      const Json& content = m["content"];
      if (content.is_string()) {
        AddUnit(units, where, Json{{"type", "text"}, {"text", content}});
      } else if (content.is_array()) {
        for (const Json& b : content) AddUnit(units, where, b);
      }
    }
  }
  return units;
}

std::optional<ApiError> CheckOne(const Json& block, const std::string& at, int& count, bool& seen_5m) {
  if (!block.is_object() || !block.contains("cache_control")) return std::nullopt;
  const Json& cc = block["cache_control"];
  if (!cc.is_object()) return Invalid(absl::StrCat(at, ".cache_control: Input should be a valid dictionary"));
  if (StringField(cc, "type") != "ephemeral") {
    return Invalid(absl::StrCat(at, ".cache_control.type: Input should be 'ephemeral'"));
  }
  std::string ttl = "5m";
  if (cc.contains("ttl")) {
    ttl = StringField(cc, "ttl");
    if (ttl != "5m" && ttl != "1h") return Invalid(absl::StrCat(at, ".cache_control.ttl: Input should be '5m' or '1h'"));
  }
  if (ttl == "1h" && seen_5m) {
    return Invalid(
        "a cache_control block with ttl='1h' cannot come after one with ttl='5m' (prefix order: tools, system, "
        "messages)");
  }
  if (ttl == "5m") seen_5m = true;
  ++count;
  return std::nullopt;
}

}  // namespace

std::optional<ApiError> ValidateCacheControl(const Json& body) {
  int count = 0;
  bool seen_5m = false;
  auto check_list = [&](const Json& list, const std::string& at) -> std::optional<ApiError> {
    if (!list.is_array()) return std::nullopt;
    for (size_t i = 0; i < list.size(); ++i) {
      if (auto e = CheckOne(list[i], absl::StrCat(at, ".", i), count, seen_5m)) return e;
    }
    return std::nullopt;
  };
  if (body.contains("tools")) {
    if (auto e = check_list(body["tools"], "tools")) return e;
  }
  if (body.contains("system")) {
    if (auto e = check_list(body["system"], "system")) return e;
  }
  if (body.contains("messages") && body["messages"].is_array()) {
    const Json& messages = body["messages"];
    for (size_t i = 0; i < messages.size(); ++i) {
      if (!messages[i].is_object() || !messages[i].contains("content")) continue;
      if (auto e = check_list(messages[i]["content"], absl::StrCat("messages.", i, ".content"))) return e;
    }
  }
  if (count > kMaxBreakpoints) {
    return Invalid(absl::StrCat("A maximum of ", kMaxBreakpoints, " blocks with cache_control may be provided. Found ",
                                count, "."));
  }
  return std::nullopt;
}

CacheUsage PromptCache::Apply(const Json& body, int64_t total_input) {
  CacheUsage usage;
  const std::vector<Unit> units = Units(body);
  std::vector<size_t> breakpoints;
  for (size_t i = 0; i < units.size(); ++i) {
    if (units[i].ttl) breakpoints.push_back(i);
  }
  usage.breakpoints = static_cast<int>(breakpoints.size());
  if (breakpoints.empty()) return usage;

  // Chained hashes and cumulative sizes of every prefix.
  std::vector<uint64_t> hash(units.size());
  std::vector<size_t> chars(units.size());
  uint64_t h = Fnv1a(StringField(body, "model"));
  size_t total_chars = 0;
  for (size_t i = 0; i < units.size(); ++i) {
    h = Fnv1a(units[i].text, h);
    hash[i] = h;
    total_chars += units[i].text.size();
    chars[i] = total_chars;
  }
  // The same prefix always counts the same, whatever follows it; never more than the
  // whole request.
  auto tokens_at = [&](size_t i) { return std::min(total_input, EstimateTokens(chars[i])); };

  int64_t read = 0;
  for (size_t b : breakpoints) {
    const size_t lowest = b + 1 > static_cast<size_t>(kLookbackBlocks) ? b + 1 - kLookbackBlocks : 0;
    for (size_t j = b + 1; j-- > lowest;) {
      if (entries_.count(hash[j])) {
        read = std::max(read, tokens_at(j));
        break;
      }
    }
  }
  int64_t covered = read;
  for (size_t b : breakpoints) {
    const int64_t upto = tokens_at(b);
    if (upto > covered) {
      (*units[b].ttl == "1h" ? usage.write_1h : usage.write_5m) += upto - covered;
      covered = upto;
    }
  }
  usage.read = read;
  if (entries_.size() + breakpoints.size() > kMaxEntries) entries_.clear();
  for (size_t b : breakpoints) entries_.insert(hash[b]);
  return usage;
}

void ApplyCacheUsage(const CacheUsage& cache, Json& usage) {
  const int64_t written = cache.write_5m + cache.write_1h;
  const int64_t input = usage.contains("input_tokens") && usage["input_tokens"].is_number_integer()
                            ? usage["input_tokens"].get<int64_t>()
                            : 0;
  usage["input_tokens"] = std::max<int64_t>(0, input - cache.read - written);
  usage["cache_creation_input_tokens"] = written;
  usage["cache_read_input_tokens"] = cache.read;
  usage["cache_creation"] = Json{{"ephemeral_5m_input_tokens", cache.write_5m},
                                 {"ephemeral_1h_input_tokens", cache.write_1h}};
}

}  // namespace baton::model_sim
