#include "workers/model_sim/request_view.h"

#include <algorithm>
#include <cstring>
#include <functional>
#include <string_view>
#include <utility>

#include "absl/hash/hash.h"
#include "absl/strings/str_cat.h"
#include "workers/model_sim/body_scanner.h"
#include "workers/model_sim/default_agent.h"
#include "workers/model_sim/prompt_cache.h"
#include "workers/model_sim/validation.h"

namespace baton::model_sim {
namespace {

// The members whose bytes every message's facts depend on (besides the messages
// before it): the prompt-cache prefix starts with the model, tools and system, and
// cache_control is checked through tools and system first.
constexpr const char* kRootMembers[] = {"model", "tools", "system"};

bool IsRootMember(absl::string_view key) {
  for (const char* k : kRootMembers) {
    if (key == k) return true;
  }
  return false;
}

// Appends the breakpoints among `units` (the first at global index `first`).
void AddBreakpoints(const std::vector<PrefixUnit>& units, size_t first, std::vector<size_t>& breakpoints) {
  for (size_t i = 0; i < units.size() && breakpoints.size() < kKeptBreakpoints; ++i) {
    if (units[i].ttl) breakpoints.push_back(first + i);
  }
}

RootFacts RootFactsOf(const Json& body) {
  RootFacts root;
  root.units = RootUnits(body, root.end);
  AddBreakpoints(root.units, 0, root.breakpoints);
  for (const char* key : {"tools", "system"}) {
    if (body.contains(key)) CheckCacheControl(body[key], key, root.cache_control);
  }
  return root;
}

std::shared_ptr<MessageFacts> BuildFacts(Json message, size_t index, const MessageFacts* previous,
                                         const RootFacts& root) {
  auto f = std::make_shared<MessageFacts>();
  f->message = std::move(message);
  f->index = index;
  const std::string dump = f->message.dump(-1, ' ', false, Json::error_handler_t::replace);
  f->dump_chars_through = (previous != nullptr ? previous->dump_chars_through : 0) + dump.size();
  f->dump_hash = Fnv1a(dump);
  f->checks = CheckMessage(f->message, index, previous != nullptr ? &previous->message : nullptr,
                           previous != nullptr ? &previous->checks : nullptr,
                           previous != nullptr ? previous->checks.cache_control : root.cache_control);
  f->end = previous != nullptr ? previous->end : root.end;
  f->units_before = f->end.units;
  f->units = MessageUnits(f->message, index, f->end);
  f->breakpoints_through = previous != nullptr ? previous->breakpoints_through : root.breakpoints;
  AddBreakpoints(f->units, f->units_before, f->breakpoints_through);
  f->agent = AgentFactsOf(f->message, index, previous != nullptr ? &previous->agent : nullptr);
  return f;
}

ChainKey Chain(const ChainKey& previous, absl::string_view bytes) {
  auto mix = [](uint64_t chain, uint64_t h) { return (chain ^ h) * 0x9e3779b97f4a7c15ULL + (h >> 29); };
  return ChainKey{mix(previous.a, std::hash<std::string_view>{}(std::string_view(bytes.data(), bytes.size()))),
                  mix(previous.b, absl::Hash<absl::string_view>{}(bytes))};
}

// Where a conversation's messages are filed between its requests: its first two
// messages, which stay the same once the first request's breakpoint has moved off them.
uint64_t TailKey(absl::string_view first, absl::string_view second) { return absl::HashOf(first, second); }

// How many leading bytes `a` and `b` share.
size_t CommonPrefix(absl::string_view a, absl::string_view b) {
  const size_t n = std::min(a.size(), b.size());
  constexpr size_t kBlock = 1024;
  size_t at = 0;
  while (at + kBlock <= n && std::memcmp(a.data() + at, b.data() + at, kBlock) == 0) at += kBlock;
  while (at < n && a[at] == b[at]) ++at;
  return at;
}

// Makes `tail` the messages of `view`: keeps its first `kept` messages (those the
// request shares with it) and appends the rest from `array` (the request's messages
// array from its '[') and `elements` (views into it).
void RefileTail(MessageCache::Tail& tail, size_t kept, std::string root_key, absl::string_view array,
                const std::vector<absl::string_view>& elements, const std::vector<ChainKey>& keys,
                const RequestView& view) {
  tail.root_key = std::move(root_key);
  const size_t kept_end = kept > 0 ? tail.spans[kept - 1].end : 0;
  tail.spans.resize(kept);
  tail.keys.resize(kept);
  tail.facts.resize(kept);
  const size_t end = static_cast<size_t>(elements.back().data() + elements.back().size() - array.data());
  tail.bytes.resize(kept_end);
  tail.bytes.append(array.data() + kept_end, end - kept_end);
  for (size_t i = kept; i < elements.size(); ++i) {
    const size_t begin = static_cast<size_t>(elements[i].data() - array.data());
    tail.spans.push_back(ElementSpan{begin, begin + elements[i].size()});
    tail.keys.push_back(keys[i]);
    tail.facts.push_back(view.messages[i]);
  }
}

}  // namespace

RequestView RequestView::FromJson(const Json& body) {
  RequestView view;
  if (!body.is_object()) {
    view.is_object = false;
    return view;
  }
  for (auto it = body.begin(); it != body.end(); ++it) {
    if (it.key() != "messages" || !it.value().is_array()) view.rest[it.key()] = it.value();
  }
  if (body.contains("messages")) {
    view.messages_kind = body["messages"].is_array() ? Messages::kList : Messages::kNotList;
  }
  view.root = RootFactsOf(view.rest);
  if (view.messages_kind != Messages::kList) return view;
  const Json& messages = body["messages"];
  for (size_t i = 0; i < messages.size(); ++i) {
    view.messages.push_back(
        BuildFacts(messages[i], i, view.messages.empty() ? nullptr : view.messages.back().get(), view.root));
  }
  return view;
}

int64_t EstimateInputTokens(const RequestView& request) {
  size_t chars = 2;
  bool first = true;
  for (const char* key : {"messages", "system", "tools"}) {
    size_t value_chars = 0;
    if (key == std::string_view("messages") && request.messages_kind == RequestView::Messages::kList) {
      // "[" m0 "," m1 ... "]", each message's compact size kept with it.
      const size_t n = request.messages.size();
      value_chars = n == 0 ? 2 : 2 + request.messages.back()->dump_chars_through + (n - 1);
    } else if (request.rest.contains(key)) {
      value_chars = request.rest[key].dump(-1, ' ', false, Json::error_handler_t::replace).size();
    } else {
      continue;
    }
    chars += (first ? 0 : 1) + std::char_traits<char>::length(key) + 3 + value_chars;
    first = false;
  }
  return EstimateTokens(chars);
}

std::optional<RequestView> ReadRequestBody(absl::string_view raw, MessageCache& cache) {
  std::unique_ptr<MessageCache::Tail> tail;
  uint64_t tail_key = 0;
  size_t matched = 0;  // messages whose bytes, and all before them, are the tail's
  auto known = [&](absl::string_view from_bracket, absl::string_view first, absl::string_view second) {
    tail_key = TailKey(first, second);
    tail = cache.TakeTail(tail_key);
    if (tail == nullptr) return absl::Span<const ElementSpan>();
    const size_t common = CommonPrefix(tail->bytes, from_bracket);
    matched = static_cast<size_t>(std::upper_bound(tail->spans.begin(), tail->spans.end(), common,
                                                   [](size_t c, const ElementSpan& e) { return c < e.end; }) -
                                  tail->spans.begin());
    return absl::MakeConstSpan(tail->spans.data(), matched);
  };
  std::optional<BodyLayout> layout = ScanBody(raw, known);
  if (!layout) {
    // Not the usual shape: the parser settles what it is.
    Json body = Json::parse(raw.begin(), raw.end(), nullptr, false);
    if (body.is_discarded()) return std::nullopt;
    return RequestView::FromJson(body);
  }

  RequestView view;
  std::string root_key;
  for (size_t i = 0; i < layout->members.size(); ++i) {
    const BodyLayout::Member& member = layout->members[i];
    if (layout->messages == i) {
      view.messages_kind = RequestView::Messages::kList;
      continue;
    }
    Json value = Json::parse(member.value.begin(), member.value.end(), nullptr, false);
    if (value.is_discarded()) return std::nullopt;
    if (member.key == "messages") view.messages_kind = RequestView::Messages::kNotList;
    if (IsRootMember(member.key)) absl::StrAppend(&root_key, member.key, ":", member.value.size(), ":", member.value);
    view.rest[member.key] = std::move(value);
  }
  view.root = RootFactsOf(view.rest);
  if (view.messages_kind != RequestView::Messages::kList) return view;

  // The tail's messages stand for this request's only after the same model, tools and
  // system: the facts of each depend on them.
  if (tail != nullptr && tail->root_key != root_key) matched = 0;
  const std::vector<absl::string_view>& elements = layout->message_elements;
  std::vector<ChainKey> keys;
  keys.reserve(elements.size());
  view.messages.reserve(elements.size());
  if (matched > 0) {
    keys.assign(tail->keys.begin(), tail->keys.begin() + static_cast<ptrdiff_t>(matched));
    view.messages.assign(tail->facts.begin(), tail->facts.begin() + static_cast<ptrdiff_t>(matched));
  }
  ChainKey key = matched > 0 ? keys.back() : Chain(ChainKey{}, root_key);
  for (size_t i = matched; i < elements.size(); ++i) keys.push_back(key = Chain(key, elements[i]));

  cache.FindPrefix(keys, view.messages);
  const size_t reused = view.messages.size();
  for (size_t i = reused; i < elements.size(); ++i) {
    Json message = Json::parse(elements[i].begin(), elements[i].end(), nullptr, false);
    if (message.is_discarded()) return std::nullopt;
    const MessageFacts* previous = i > 0 ? view.messages[i - 1].get() : nullptr;
    std::shared_ptr<MessageFacts> f = BuildFacts(std::move(message), i, previous, view.root);
    f->bytes = elements[i].size();
    view.messages.push_back(std::move(f));
  }
  cache.Insert(keys, view.messages, reused);
  if (elements.size() >= 2) {
    if (tail == nullptr) tail = std::make_unique<MessageCache::Tail>();
    RefileTail(*tail, matched, std::move(root_key), layout->members[*layout->messages].value, elements, keys, view);
    cache.PutTail(tail_key, std::move(tail), matched);
  }
  return view;
}

void MessageCache::FindPrefix(const std::vector<ChainKey>& keys,
                              std::vector<std::shared_ptr<const MessageFacts>>& found) {
  const size_t from = found.size();
  absl::MutexLock lock(&mu_);
  ++tick_;
  for (size_t i = from; i < keys.size(); ++i) {
    auto it = slots_.find(keys[i].a);
    if (it == slots_.end() || it->second.key_b != keys[i].b) break;
    it->second.last_used = tick_;
    found.push_back(it->second.facts);
  }
  reused_ += static_cast<int64_t>(found.size() - from);
  built_ += static_cast<int64_t>(keys.size() - found.size());
}

std::unique_ptr<MessageCache::Tail> MessageCache::TakeTail(uint64_t key) {
  absl::MutexLock lock(&mu_);
  auto it = tails_.find(key);
  if (it == tails_.end()) return nullptr;
  std::unique_ptr<Tail> tail = std::move(it->second.tail);
  tail_bytes_ -= tail->bytes.size();
  tails_.erase(it);
  return tail;
}

void MessageCache::PutTail(uint64_t key, std::unique_ptr<Tail> tail, size_t matched) {
  absl::MutexLock lock(&mu_);
  reused_ += static_cast<int64_t>(matched);
  matched_ += static_cast<int64_t>(matched);
  if (tail->bytes.size() > max_bytes_) return;
  auto [it, inserted] = tails_.try_emplace(key);
  if (!inserted) tail_bytes_ -= it->second.tail->bytes.size();
  tail_bytes_ += tail->bytes.size();
  it->second = FiledTail{++tick_, std::move(tail)};
  if (tail_bytes_ <= max_bytes_) return;
  // As EvictLocked: down to three quarters, so that the sort runs once per many puts.
  std::vector<std::pair<uint64_t, uint64_t>> order;  // (filed, key)
  order.reserve(tails_.size());
  for (const auto& [k, filed] : tails_) order.emplace_back(filed.filed, k);
  std::sort(order.begin(), order.end());
  for (const auto& [filed, k] : order) {
    if (tail_bytes_ <= max_bytes_ / 4 * 3) break;
    auto victim = tails_.find(k);
    tail_bytes_ -= victim->second.tail->bytes.size();
    tails_.erase(victim);
  }
}

void MessageCache::Insert(const std::vector<ChainKey>& keys,
                          const std::vector<std::shared_ptr<const MessageFacts>>& facts, size_t from) {
  absl::MutexLock lock(&mu_);
  for (size_t i = from; i < facts.size(); ++i) {
    if (facts[i]->bytes > max_bytes_) continue;
    auto [it, inserted] = slots_.try_emplace(keys[i].a);
    if (!inserted) bytes_ -= it->second.facts->bytes;
    it->second = Slot{keys[i].b, tick_, facts[i]};
    bytes_ += facts[i]->bytes;
  }
  if (bytes_ > max_bytes_) EvictLocked();
}

void MessageCache::EvictLocked() {
  struct Victim {
    uint64_t last_used;
    size_t index;
    uint64_t key;
  };
  std::vector<Victim> order;
  order.reserve(slots_.size());
  for (const auto& [key, slot] : slots_) order.push_back(Victim{slot.last_used, slot.facts->index, key});
  std::sort(order.begin(), order.end(), [](const Victim& x, const Victim& y) {
    return x.last_used != y.last_used ? x.last_used < y.last_used : x.index > y.index;
  });
  const size_t target = max_bytes_ / 4 * 3;
  for (const Victim& v : order) {
    if (bytes_ <= target) break;
    auto it = slots_.find(v.key);
    bytes_ -= it->second.facts->bytes;
    slots_.erase(it);
  }
}

void MessageCache::Clear() {
  absl::MutexLock lock(&mu_);
  slots_.clear();
  bytes_ = 0;
  tails_.clear();
  tail_bytes_ = 0;
}

MessageCache::Stats MessageCache::stats() const {
  absl::MutexLock lock(&mu_);
  return Stats{slots_.size(), bytes_, reused_, built_, matched_, tails_.size(), tail_bytes_};
}

}  // namespace baton::model_sim
