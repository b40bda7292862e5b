#include "workers/model_sim/prompt_cache.h"

#include <algorithm>
#include <iterator>
#include <vector>

#include "absl/strings/str_cat.h"
#include "workers/model_sim/request_view.h"

namespace baton::model_sim {
namespace {

// Entries kept before the cache starts over (a long benchmark never resets it).
constexpr size_t kMaxEntries = 200'000;
constexpr int kMaxBreakpoints = 4;
constexpr int kLookbackBlocks = 20;

ApiError Invalid(std::string message) { return ApiError{400, "invalid_request_error", std::move(message)}; }

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

// Appends the unit of `block` at `where` to `units`, continuing the prefix at `end`.
void AddUnit(std::vector<PrefixUnit>& units, absl::string_view where, const Json& block, PrefixEnd& end) {
  PrefixUnit u;
  if (block.is_object() && block.contains("cache_control")) {
    const Json& cc = block["cache_control"];
    u.ttl = cc.is_object() && cc.contains("ttl") && cc["ttl"].is_string() ? cc["ttl"].get<std::string>() : "5m";
  }
  // Keys sorted: the same block is the same prefix whatever order a client wrote it in.
  // (Spelled in one pass: dumping, parsing into a sorted tree and dumping again cost
  // most of the simulator's time in long conversations.)
  std::string text(where);
  AppendSorted(block, &text, "cache_control");
  end.hash = Fnv1a(text, end.hash);
  end.chars += text.size();
  ++end.units;
  u.hash = end.hash;
  u.chars = end.chars;
  units.push_back(std::move(u));
}

std::optional<ApiError> CheckOne(const Json& block, absl::string_view at, int& count, bool& seen_5m) {
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

void CheckCacheControl(const Json& list, absl::string_view at, CacheControlState& state) {
  if (state.error || !list.is_array()) return;
  for (size_t i = 0; i < list.size() && !state.error; ++i) {
    const Json& block = list[i];
    if (!block.is_object() || !block.contains("cache_control")) continue;
    state.error = CheckOne(block, absl::StrCat(at, ".", i), state.count, state.seen_5m);
  }
}

std::optional<ApiError> CacheControlError(const CacheControlState& state) {
  if (state.error) return state.error;
  if (state.count > kMaxBreakpoints) {
    return Invalid(absl::StrCat("A maximum of ", kMaxBreakpoints, " blocks with cache_control may be provided. Found ",
                                state.count, "."));
  }
  return std::nullopt;
}

std::vector<PrefixUnit> RootUnits(const Json& body, PrefixEnd& end) {
  std::vector<PrefixUnit> units;
  end = PrefixEnd{Fnv1a(StringField(body, "model")), 0, 0};
  if (body.contains("tools") && body["tools"].is_array()) {
    for (const Json& t : body["tools"]) AddUnit(units, "tool:", t, end);
  }
  if (body.contains("system")) {
    const Json& system = body["system"];
    if (system.is_string()) {
      AddUnit(units, "system:", Json{{"type", "text"}, {"text", system}}, end);
    } else if (system.is_array()) {
      for (const Json& b : system) AddUnit(units, "system:", b, end);
    }
  }
  return units;
}

std::vector<PrefixUnit> MessageUnits(const Json& m, size_t index, PrefixEnd& end) {
  std::vector<PrefixUnit> units;
  if (!m.is_object() || !m.contains("content")) return units;
  // A message boundary is part of the prefix: the same blocks in other turns differ.
  const std::string where = absl::StrCat(StringField(m, "role"), index, ":");
  const Json& content = m["content"];
  if (content.is_string()) {
    AddUnit(units, where, Json{{"type", "text"}, {"text", content}}, end);
  } else if (content.is_array()) {
    for (const Json& b : content) AddUnit(units, where, b, end);
  }
  return units;
}

CacheUsage PromptCache::Apply(const Json& body, int64_t total_input) {
  return Apply(RequestView::FromJson(body), total_input);
}

CacheUsage PromptCache::Apply(const RequestView& request, int64_t total_input) {
  CacheUsage usage;
  // The request's units are the root's, then each message's (kept with the message,
  // their hashes chained from the model on): unit j is found without spelling them.
  auto unit_at = [&](size_t j) -> const PrefixUnit& {
    if (j < request.root.units.size()) return request.root.units[j];
    auto it = std::upper_bound(request.messages.begin(), request.messages.end(), j,
                               [](size_t k, const auto& m) { return k < m->units_before; });
    const MessageFacts& m = **std::prev(it);
    return m.units[j - m.units_before];
  };
  // The breakpoints are kept with the last message, unless there are more than it keeps.
  std::vector<size_t> breakpoints =
      request.messages.empty() ? request.root.breakpoints : request.messages.back()->breakpoints_through;
  if (breakpoints.size() >= kKeptBreakpoints) {
    breakpoints.clear();
    for (size_t i = 0; i < request.root.units.size(); ++i) {
      if (request.root.units[i].ttl) breakpoints.push_back(i);
    }
    for (const auto& m : request.messages) {
      for (size_t i = 0; i < m->units.size(); ++i) {
        if (m->units[i].ttl) breakpoints.push_back(m->units_before + i);
      }
    }
  }
  usage.breakpoints = static_cast<int>(breakpoints.size());
  if (breakpoints.empty()) return usage;

  // The same prefix always counts the same, whatever follows it; never more than the
  // whole request.
  auto tokens_at = [&](size_t j) { return std::min(total_input, EstimateTokens(unit_at(j).chars)); };

  int64_t read = 0;
  for (size_t b : breakpoints) {
    const size_t lowest = b + 1 > static_cast<size_t>(kLookbackBlocks) ? b + 1 - kLookbackBlocks : 0;
    for (size_t j = b + 1; j-- > lowest;) {
      if (entries_.count(unit_at(j).hash)) {
        read = std::max(read, tokens_at(j));
        break;
      }
    }
  }
  int64_t covered = read;
  for (size_t b : breakpoints) {
    const int64_t upto = tokens_at(b);
    if (upto > covered) {
      (*unit_at(b).ttl == "1h" ? usage.write_1h : usage.write_5m) += upto - covered;
      covered = upto;
    }
  }
  usage.read = read;
  if (entries_.size() + breakpoints.size() > kMaxEntries) entries_.clear();
  for (size_t b : breakpoints) entries_.insert(unit_at(b).hash);
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
