// A /v1/messages request as the simulator reads it: the body's members other than
// "messages" parsed, and for each message what the simulator derives from it and the
// messages before it (its checks, token count, prompt-cache keys, what the default
// agent reads), shared with earlier requests of the same conversation through a
// MessageCache.
//
// Why the cache: a conversation's every request repeats all its earlier messages, and
// parsing, checking and keying them all again made the simulator's CPU per call grow
// with the conversation (7-8 ms at step 200 of W2-long against 0.4 at step 10, on the
// 2 cores it shares with the worker and orchestrator it measures). A request is now
// scanned (body_scanner.h), each message's bytes hashed in a chain with those before
// it (ChainKey), and only the messages past the longest prefix seen before are parsed
// and checked.
//
// Why the conversation's tail: scanning and hashing every message of every request
// still doubled the simulator's CPU per call from step 10 to step 200. A request's
// messages are first compared, in one memcmp, with those of the last request that began
// with the same two messages (MessageCache::Tail); only the messages past the bytes
// they share are scanned, keyed and looked up.
#ifndef BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_
#define BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/container/flat_hash_map.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "workers/model_sim/body_scanner.h"
#include "workers/model_sim/message_facts.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

// What comes before the messages in every prefix: the model, tools and system.
// One more breakpoint than the API allows is kept with each message: a request with
// more is refused before the prompt cache reads it.
inline constexpr size_t kKeptBreakpoints = 5;

struct RootFacts {
  std::vector<PrefixUnit> units;      // tools, then system blocks
  std::vector<size_t> breakpoints;    // the indices of those with cache_control (at most kKeptBreakpoints)
  PrefixEnd end;                      // after them
  CacheControlState cache_control;    // after checking their blocks
};

// One message and what is derived from it given the request's RootFacts and the
// messages before it. Immutable once built; shared between requests.
struct MessageFacts {
  Json message;
  size_t index = 0;
  size_t dump_chars_through = 0;  // Σ compact-JSON size of messages[0..index]
  uint64_t dump_hash = 0;         // Fnv1a of this message's compact JSON
  MessageChecks checks;
  size_t units_before = 0;        // prompt-cache units before this message's
  std::vector<PrefixUnit> units;  // this message's, their hashes chained from before
  PrefixEnd end;                  // the prefix after this message
  AgentFacts agent;

  // The global indices of the breakpoint units in the prefix through this message
  // (tools, system, messages[0..index]), at most kKeptBreakpoints of them.
  std::vector<size_t> breakpoints_through;
  // Its size as received (0 when built from a tree): what a MessageCache counts.
  size_t bytes = 0;
};

struct RequestView {
  enum class Messages { kMissing, kNotList, kList };

  bool is_object = true;          // false: the body is JSON but not an object
  Json rest = Json::object();     // the body's members other than "messages", in order
  Messages messages_kind = Messages::kMissing;
  std::vector<std::shared_ptr<const MessageFacts>> messages;
  RootFacts root;

  const Json& message(size_t i) const { return messages[i]->message; }

  // The view of a parsed body, nothing shared.
  static RequestView FromJson(const Json& body);
};

// The key of a message: two independent 64-bit hashes of its bytes, each chained with
// those of the messages before it and of the model, tools and system. 128 bits: two
// different prefixes do not meet in practice, so the bytes need not be kept.
struct ChainKey {
  uint64_t a = 0;
  uint64_t b = 0;
};

// A bounded LRU of MessageFacts keyed by ChainKey. Thread-safe.
class MessageCache {
 public:
  // `max_bytes`: the bytes (as received) of the messages kept; their parsed forms take
  // a few times more. 0 keeps nothing.
  explicit MessageCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  MessageCache(const MessageCache&) = delete;
  MessageCache& operator=(const MessageCache&) = delete;

  // The messages array of a conversation's latest request, filed under its first two
  // messages (TailKey).
  struct Tail {
    std::string root_key;  // the bytes of its model, tools and system, as ReadRequestBody keys them
    std::string bytes;     // the array from its '[' through the end of its last element
    std::vector<ElementSpan> spans;
    std::vector<ChainKey> keys;
    std::vector<std::shared_ptr<const MessageFacts>> facts;
  };
  // Takes the tail filed under `key` out of the cache (so that the request reading it
  // needs no lock while it does); null when there is none.
  std::unique_ptr<Tail> TakeTail(uint64_t key);
  // Files `tail` under `key`, in place of any other there, then drops the least
  // recently filed tails past the bound (max_bytes of their `bytes`). `matched`: how
  // many of the request's messages were the tail's as taken (counted as reused).
  void PutTail(uint64_t key, std::unique_ptr<Tail> tail, size_t matched);

  // Appends to `found` the cached facts of the longest run of `keys` from
  // keys[found.size()] on, most recently used from now on.
  void FindPrefix(const std::vector<ChainKey>& keys, std::vector<std::shared_ptr<const MessageFacts>>& found);
  // Keeps facts[i] under keys[i] for i >= from, then evicts past the bound.
  void Insert(const std::vector<ChainKey>& keys, const std::vector<std::shared_ptr<const MessageFacts>>& facts,
              size_t from);
  void Clear();

  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    int64_t reused = 0;  // messages found here, over all requests
    int64_t built = 0;   // messages parsed and checked, over all requests
    int64_t matched = 0;  // of `reused`, those matched through a Tail (neither scanned nor keyed)
    size_t tails = 0;
    size_t tail_bytes = 0;
  };
  Stats stats() const;

 private:
  struct Slot {
    uint64_t key_b;      // ChainKey::b (the map is keyed by ChainKey::a)
    uint64_t last_used;  // the FindPrefix or Insert that last touched it
    std::shared_ptr<const MessageFacts> facts;
  };
  // Drops the least recently used messages (a conversation's later ones first) down to
  // three quarters of the bound, so that eviction's sort runs once per many inserts.
  void EvictLocked() ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  mutable absl::Mutex mu_;
  // No list to splice: a request touches hundreds of messages, and a stamp in the slot
  // costs no more memory reads than the lookup did.
  absl::flat_hash_map<uint64_t, Slot> slots_ ABSL_GUARDED_BY(mu_);
  uint64_t tick_ ABSL_GUARDED_BY(mu_) = 0;
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reused_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t built_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t matched_ ABSL_GUARDED_BY(mu_) = 0;

  struct FiledTail {
    uint64_t filed;  // tick_ when it was put
    std::unique_ptr<Tail> tail;
  };
  absl::flat_hash_map<uint64_t, FiledTail> tails_ ABSL_GUARDED_BY(mu_);
  size_t tail_bytes_ ABSL_GUARDED_BY(mu_) = 0;
};

// The request's input-token estimate as EstimateInputTokens (wire.h) makes it from the
// whole body, from the messages' sizes kept with them.
int64_t EstimateInputTokens(const RequestView& request);

// Reads a request body; nullopt when it is not valid JSON. Messages seen before (same
// bytes after the same model, tools, system and earlier messages) come from `cache`.
std::optional<RequestView> ReadRequestBody(absl::string_view raw, MessageCache& cache);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_
