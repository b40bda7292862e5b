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
// it, and only the messages past the longest prefix seen before are parsed and checked.
#ifndef BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_
#define BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <optional>
#include <string>
#include <unordered_map>
#include <vector>

#include "absl/base/thread_annotations.h"
#include "absl/strings/string_view.h"
#include "absl/synchronization/mutex.h"
#include "workers/model_sim/message_facts.h"
#include "workers/model_sim/wire.h"

namespace baton::model_sim {

// What comes before the messages in every prefix: the model, tools and system.
struct RootFacts {
  std::vector<PrefixUnit> units;      // tools, then system blocks
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

  // Identity in a MessageCache (empty / 0 when built from a tree): the bytes as
  // received, the root's bytes (first message only), and the entry it follows.
  std::string raw;
  std::string root_key;
  uint64_t serial = 0;
  uint64_t parent_serial = 0;
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

// A bounded LRU of MessageFacts keyed by the chain of their bytes. Thread-safe.
class MessageCache {
 public:
  // `max_bytes`: the bytes (as received) of the messages kept; their parsed forms take
  // a few times more. 0 keeps nothing.
  explicit MessageCache(size_t max_bytes) : max_bytes_(max_bytes) {}
  MessageCache(const MessageCache&) = delete;
  MessageCache& operator=(const MessageCache&) = delete;

  // The cached facts of the longest prefix of `elements` (under `root_key`) whose
  // chained keys are `keys`, most recently used from now on.
  std::vector<std::shared_ptr<const MessageFacts>> FindPrefix(const std::vector<uint64_t>& keys,
                                                              const std::vector<absl::string_view>& elements,
                                                              const std::string& root_key);
  // Keeps facts[i] under keys[i] for i >= from, then evicts past the bound.
  void Insert(const std::vector<uint64_t>& keys, const std::vector<std::shared_ptr<const MessageFacts>>& facts,
              size_t from);
  uint64_t NextSerial() { return ++serial_; }
  void Clear();

  struct Stats {
    size_t entries = 0;
    size_t bytes = 0;
    int64_t reused = 0;  // messages found here, over all requests
    int64_t built = 0;   // messages parsed and checked, over all requests
  };
  Stats stats() const;

 private:
  struct Slot {
    uint64_t key;
    std::shared_ptr<const MessageFacts> facts;
  };
  static size_t Cost(const MessageFacts& f) { return f.raw.size() + f.root_key.size(); }
  void EraseLocked(std::list<Slot>::iterator it) ABSL_EXCLUSIVE_LOCKS_REQUIRED(mu_);

  const size_t max_bytes_;
  std::atomic<uint64_t> serial_{0};
  mutable absl::Mutex mu_;
  std::list<Slot> lru_ ABSL_GUARDED_BY(mu_);  // most recently used first
  std::unordered_map<uint64_t, std::list<Slot>::iterator> index_ ABSL_GUARDED_BY(mu_);
  size_t bytes_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t reused_ ABSL_GUARDED_BY(mu_) = 0;
  int64_t built_ ABSL_GUARDED_BY(mu_) = 0;
};

// The request's input-token estimate as EstimateInputTokens (wire.h) makes it from the
// whole body, from the messages' sizes kept with them.
int64_t EstimateInputTokens(const RequestView& request);

// Reads a request body; nullopt when it is not valid JSON. Messages seen before (same
// bytes after the same model, tools, system and earlier messages) come from `cache`.
std::optional<RequestView> ReadRequestBody(absl::string_view raw, MessageCache& cache);

}  // namespace baton::model_sim

#endif  // BATON_WORKERS_MODEL_SIM_REQUEST_VIEW_H_
