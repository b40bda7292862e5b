#include "workers/model/serialized_request.h"

#include <algorithm>
#include <iterator>

#include "common/json_codec.h"

namespace baton::worker {
namespace {

// The fields /v1/messages/count_tokens accepts.
constexpr std::string_view kCountTokensFields[] = {"model",       "messages", "system",     "tools",
                                                   "tool_choice", "thinking", "mcp_servers"};

size_t ValueBytes(const SerializedRequest::Member& member) {
  size_t n = 0;
  for (std::string_view piece : member.value) n += piece.size();
  return n;
}

// `{"key":value,...}` of the members `keep` accepts, then `tail` before the brace,
// into *out.
template <typename Keep>
void JoinInto(const std::vector<SerializedRequest::Member>& members, Keep keep, std::string_view tail,
              std::string* out_ptr) {
  size_t size = 2 + tail.size();
  for (const SerializedRequest::Member& m : members) {
    if (keep(m.key)) size += m.key.size() + 4 + ValueBytes(m);
  }
  std::string& out = *out_ptr;
  out.clear();
  out.reserve(size);
  out += '{';
  for (const SerializedRequest::Member& m : members) {
    if (!keep(m.key)) continue;
    if (out.size() > 1) out += ',';
    out += '"';
    out += m.key;
    out += "\":";
    for (std::string_view piece : m.value) out += piece;
  }
  if (!tail.empty()) {
    if (out.size() > 1) out += ',';
    out += tail;
  }
  out += '}';
}

}  // namespace

std::string SerializedRequest::Body(bool stream) const {
  std::string body;
  JoinInto(members, [](std::string_view) { return true; }, stream ? "\"stream\":true" : "", &body);
  return body;
}

std::string SerializedRequest::CountTokensBody() const {
  std::string body;
  JoinInto(members, CountTokensAccepts, "", &body);
  return body;
}

bool CountTokensAccepts(std::string_view key) {
  return std::find(std::begin(kCountTokensFields), std::end(kCountTokensFields), key) !=
         std::end(kCountTokensFields);
}

size_t SerializedRequest::BodyBytes(std::initializer_list<std::string_view> keys) const {
  size_t size = 2;  // the braces
  bool first = true;
  for (const Member& m : members) {
    if (std::find(keys.begin(), keys.end(), m.key) == keys.end()) continue;
    size += (first ? 0 : 1) + m.key.size() + 3 + ValueBytes(m);
    first = false;
  }
  return size;
}

std::string SerializeJson(const nlohmann::json& value) { return DumpJson(value); }

}  // namespace baton::worker
